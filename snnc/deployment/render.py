"""The deployment report rendered: as terminal tables (:func:`table`) and as one self-contained HTML
page (:func:`html`) with the same tables and the figures embedded as PNG."""

from __future__ import annotations

import base64
import html as markup
import io


def _n(v) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float) and (not v.is_integer() or abs(v) >= 1e12):
        if 1e3 <= abs(v) < 1e12:
            return f"{v:,.1f}"
        return f"{v:.4g}"
    return f"{int(v):,}"


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.3g}%"


def sections(rep) -> list[tuple[str, list[str], list[list[str]], list[str]]]:
    """``(title, header, rows, lines)`` per section: what both renderings show."""
    out = []
    verdict = {True: "bit-exact", False: "NOT bit-exact", None: "not built"}[rep.verified]
    head = [f"inputs {rep.inputs_shape} ([T, N, ...]); artifact {verdict}; "
            f"{'fits' if rep.fits else 'DOES NOT FIT'}"]
    if rep.refusal:
        head.append(f"refused by the target: {rep.refusal}")
    out.append((f"snnc report: {rep.target} (numerics {rep.numerics})", [], [], head + list(rep.notes)))
    if rep.fit is not None:
        fit = rep.fit
        header = ["layer", "op"] + [r.label + (f" ({r.unit})" if r.unit else "") for r in fit.resources]
        rows = [[f.layer, f.op] + [_n(f.usage.get(r.key, 0)) for r in fit.resources] for f in fit.layers]
        rows.append(["total", ""] + [_n(fit.totals[r.key]) for r in fit.resources])
        lines = [f"limit: {fit.label(lim.resource)} <= {_n(lim.value)} {'per layer' if lim.per_layer else 'in all'}"
                 f" ({lim.why})" for lim in fit.limits]
        lines += [f"DOES NOT FIT: {p}" for p in fit.problems] + list(fit.notes)
        out.append(("fit", header, rows, lines))
    if rep.cost is not None:
        c = rep.cost
        rows = [[s.layer, s.op, "spikes (AC)" if s.spiking_input else "values (MAC)", _n(s.effective / c.samples),
                 _n(s.dense / c.samples)] for s in c.synapses]
        lines = [f"per sample over {c.steps} steps ({c.samples} samples): effective ACs "
                 f"{_n(c.effective_acs_per_sample)}, effective MACs {_n(c.effective_macs_per_sample)}, dense "
                 f"{_n(c.dense_per_sample)}"]
        out.append(("synaptic operations", ["layer", "op", "input", "effective / sample", "dense / sample"], rows,
                    lines))
        rows = [[n.layer, _n(n.neurons), f"{n.firing_rate:.4f}", _pct(n.sparsity), _n(n.dead), _n(n.saturated)]
                for n in c.neurons]
        out.append(("activity", ["neuron layer", "neurons", "firing rate", "sparsity", "dead", "saturated"], rows,
                    [f"activation sparsity over all neuron layers: {_pct(c.activation_sparsity)}",
                     f"parameter footprint in the target's formats: {_n(c.footprint_bytes)} B"]))
    if rep.quantization is not None:
        q = rep.quantization
        rows = [[p.layer, p.parameter, p.format, f"[{_n(p.used[0])}, {_n(p.used[1])}]",
                 f"[{_n(p.limit[0])}, {_n(p.limit[1])}]", _pct(p.range_used), _n(p.rounded_to_zero)]
                for p in q.parameters]
        rows += [[s.layer, f"state {s.state}", s.format, f"[{_n(s.used[0])}, {_n(s.used[1])}]",
                  f"[{_n(s.limit[0])}, {_n(s.limit[1])}]", _pct(s.range_used), ""] for s in q.states]
        lines = [f"values at their format's limit in simulation: {_n(q.saturated)} of "
                 f"{_n(sum(v.values for v in q.values))}"]
        lines += [f"  {v.layer}: {_n(v.saturated)} of {_n(v.values)} ({v.format})" for v in q.values if v.saturated]
        if not q.range_checked:
            lines.append(f"range analysis: not applicable ({q.range_note})")
        elif q.range_overflows:
            lines += [f"range analysis: {len(q.range_overflows)} value(s) can overflow"]
            lines += [f"  {o}" for o in q.range_overflows]
        else:
            lines.append(f"range analysis: all {q.range_checked} fixed-point values proven in range")
        out.append(("quantization", ["layer", "parameter", "format", "used", "format range", "range used",
                                     "rounded to 0"], rows, lines))
    if rep.drift is not None:
        d = rep.drift
        rows = [[name, f"{d.spike_rate_float[name]:.4f}", f"{d.spike_rate_quant[name]:.4f}", f"{err:.4f}"]
                for name, err in d.spike_rate_error.items()]
        out.append(("drift from the float model", ["neuron layer", "rate (float)", "rate (target)", "rate error"],
                    rows, [f"decision agreement: {_pct(d.decision_agreement)} of {d.decisions} decisions"]))
    return out


def table(rep) -> str:
    lines = []
    for title, header, rows, notes in sections(rep):
        lines.append(f"== {title}")
        if header:
            widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
            for r in [header, *rows]:
                lines.append("  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w)
                                       for i, (c, w) in enumerate(zip(r, widths))).rstrip())
        lines += notes
    return "\n".join(lines)


def figures(rep) -> dict:
    """Name → matplotlib figure: the verification's rasters and divergence map, and a firing-rate
    histogram per neuron layer."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = dict(rep._verification.figures()) if rep._verification is not None else {}
    for name, rates in rep._rates.items():
        fig, ax = plt.subplots(figsize=(5, 2.6))
        ax.hist(rates, bins=20, range=(0.0, 1.0), color="#3569a8")
        ax.set_title(f"firing rates: {name} ({rates.size} neurons)")
        ax.set_xlabel("spikes per step")
        ax.set_ylabel("neurons")
        fig.tight_layout()
        out[f"rates_{name}.png"] = fig
    return out


_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}
td:first-child,th:first-child,td:nth-child(2){text-align:left}th{background:#f0f3f7}
.bad{color:#b00020;font-weight:bold}figure{display:inline-block;margin:.5em}img{max-width:520px}"""


def html(rep) -> str:
    """The report as one HTML page (no external files: the figures are data URIs)."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>snnc report: {markup.escape(rep.target)}"
             f"</title><style>{_STYLE}</style></head><body>"]
    for i, (title, header, rows, notes) in enumerate(sections(rep)):
        parts.append(f"<h{1 if i == 0 else 2}>{markup.escape(title)}</h{1 if i == 0 else 2}>")
        if header:
            parts.append("<table><tr>" + "".join(f"<th>{markup.escape(h)}</th>" for h in header) + "</tr>")
            parts += ["<tr>" + "".join(f"<td>{markup.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows]
            parts.append("</table>")
        for note in notes:
            bad = "DOES NOT FIT" in note or "NOT bit-exact" in note or "can overflow" in note
            parts.append(f"<p{' class=bad' if bad else ''}>{markup.escape(note)}</p>")
    try:
        import matplotlib.pyplot as plt
        drawn = figures(rep)
    except ModuleNotFoundError as e:
        parts.append(f"<p>no figures: {markup.escape(e.name or 'matplotlib')} is not installed "
                     "(pip install 'snnc[plots]')</p>")
        drawn = {}
    if drawn:
        parts.append("<h2>figures</h2>")
    for name, fig in drawn.items():
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
        plt.close(fig)
        data = base64.b64encode(buf.getvalue()).decode()
        parts.append(f"<figure><img alt='{markup.escape(name)}' src='data:image/png;base64,{data}'>"
                     f"<figcaption>{markup.escape(name)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


__all__ = ["table", "html", "figures", "sections"]
