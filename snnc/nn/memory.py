"""Compact saved spikes: autograd keeps the spikes a layer saves for its backward as 1 byte each.

In a training step every conv or linear layer that consumes spikes saves them for its weight gradient.
Spikes hold only 0 and 1, which ``uint8`` and every float dtype represent exactly, so inside
:func:`compact_spikes` a saved tensor that is (a view of) a neuron's spike output is stored as
``uint8`` and converted back when the backward reads it. Values, dtype, shape and strides round-trip
exactly, so every gradient is bit-identical to the same step without the context, while the saved
spikes take 1 byte per element instead of 2 (float16, bfloat16), 4 (float32) or 8 (float64).

The rules:

- **What counts as spikes.** While a context is open, every snnc.nn neuron with a spiking surrogate
  records its output (:func:`record_spikes`) by where its elements lie: the storage (device, data
  pointer, size in bytes) and the element range ``[offset, offset + numel)`` in it. A saved tensor is
  stored as ``uint8`` when it is *dense* (its elements fill one block of memory exactly once, in any
  dim order), has the recorded dtype, lies inside a recorded range, and has not been modified in place
  since it was recorded (views share the version counter, so ``_version`` is unchanged). Every other
  tensor is saved unchanged. Spikes are recorded when the neuron returns, so what the neuron itself
  saves is never compacted: a compacted tensor is always an input of a later op (conv, linear, pool).
- **No stale records.** A record lives as long as the spike tensor object: a weakref callback drops it
  when that object dies, so memory that is freed and reused by another tensor is never taken for spikes
  (a view that outlives the spike tensor is then simply saved unchanged).
- **One copy per spike tensor.** All saved views of one spike tensor share one ``uint8`` copy of it,
  made at the first save and freed when the last packed view is freed. The packed object never refers
  to the original tensor, so the original's memory is released as soon as the forward drops it. A
  Triton neuron inside the context writes that copy itself, with the spikes (the record keeps it while
  the spikes live), so nothing is converted when they are saved.
- **Autograd's in-place check is kept.** Under any ``saved_tensors_hooks`` PyTorch no longer checks at
  backward that a saved tensor was not modified in place; :meth:`SpikePacker.unpack` does that check
  itself for the tensors it saves unchanged. A compacted tensor is a copy: an in-place change of the
  original after it was saved cannot reach the backward (the gradient uses the values the forward
  used, where PyTorch without the context would raise).

Spikes are not recorded while ``torch.compile``/``torch.export`` trace (the hooks then see none).
"""

from __future__ import annotations

import contextlib
import functools
import weakref
from typing import Iterator, NamedTuple

import torch

from ..runtime.layout import is_dense


def _is_candidate(t: torch.Tensor) -> bool:
    """A plain, strided, non-empty, dense float tensor: the only kind that is recorded or compacted."""
    return (type(t) is torch.Tensor and t.layout == torch.strided and t.is_floating_point() and t.numel() > 0
            and (t.is_contiguous() or is_dense(t)))


def _storage_key(t: torch.Tensor) -> tuple:
    storage = t.untyped_storage()
    return t.device, storage.data_ptr(), storage.nbytes()


def _convert(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``t`` as ``dtype`` with exactly ``t``'s shape and strides (``t`` dense)."""
    return torch.empty_strided(t.shape, t.stride(), dtype=dtype, device=t.device).copy_(t.detach())


class _Record:
    """One recorded spike tensor: its dtype, element range and version, and its shared ``uint8`` copy."""

    __slots__ = ("dtype", "begin", "end", "version", "spikes", "compact", "written")

    def __init__(self, spikes: torch.Tensor, spikes_ref: weakref.ref, as_bytes: torch.Tensor | None):
        self.dtype = spikes.dtype
        self.begin = spikes.storage_offset()
        self.end = self.begin + spikes.numel()
        self.version = spikes._version
        self.spikes = spikes_ref
        self.compact: weakref.ref | None = None
        self.written = as_bytes  # the uint8 copy the neuron kernel wrote with the spikes, if it did

    def holds(self, t: torch.Tensor) -> bool:
        """``t`` (dense, same storage) lies inside the live spikes, both unmodified since recording."""
        begin = t.storage_offset()
        return (self.spikes() is not None and t.dtype == self.dtype and t._version == self.version
                and self.begin <= begin and begin + t.numel() <= self.end)

    def uint8(self) -> torch.Tensor:
        """The spikes as ``uint8`` (same strides, storage offset 0): the kernel's copy, or converted once;
        shared."""
        if self.written is not None:
            return self.written
        compact = self.compact() if self.compact is not None else None
        if compact is None:
            compact = _convert(self.spikes(), torch.uint8)  # alive: checked by holds()
            self.compact = weakref.ref(compact)
        return compact


class SpikeRegistry:
    """The spike tensors recorded while a :func:`compact_spikes` context is open, by storage."""

    def __init__(self):
        self.active = 0  # open contexts; nothing is recorded at 0
        self._by_storage: dict[tuple, list[_Record]] = {}

    def __len__(self) -> int:
        return sum(len(records) for records in self._by_storage.values())

    def record(self, spikes: torch.Tensor, as_bytes: torch.Tensor | None = None) -> None:
        """Remember ``spikes`` (values 0/1) until the tensor object dies, with their uint8 copy if one was
        made with them (same shape and strides, storage offset 0); non-candidates and tensors already
        recorded are ignored."""
        if not _is_candidate(spikes):
            return
        key = _storage_key(spikes)
        records = self._by_storage.setdefault(key, [])
        if any(record.spikes() is spikes for record in records):
            return
        spikes_ref = weakref.ref(spikes, functools.partial(self._forget, key))
        records.append(_Record(spikes, spikes_ref, as_bytes))

    def find(self, t: torch.Tensor) -> _Record | None:
        """The record whose spikes hold all of ``t`` (see :meth:`_Record.holds`), or None."""
        if not self._by_storage or not _is_candidate(t):
            return None
        for record in self._by_storage.get(_storage_key(t), ()):
            if record.holds(t):
                return record
        return None

    def _forget(self, key: tuple, spikes_ref: weakref.ref) -> None:
        records = [r for r in self._by_storage.get(key, ()) if r.spikes is not spikes_ref]
        if records:
            self._by_storage[key] = records
        else:
            self._by_storage.pop(key, None)


REGISTRY = SpikeRegistry()


def recording() -> bool:
    """Spikes recorded now are compacted: a :func:`compact_spikes` context is open, and no
    ``torch.compile``/``torch.export`` trace is running."""
    return bool(REGISTRY.active) and not torch.compiler.is_compiling()


def record_spikes(spikes: torch.Tensor, as_bytes: torch.Tensor | None = None) -> torch.Tensor:
    """Declare ``spikes`` binary (every value 0 or 1) for :func:`compact_spikes`, with ``as_bytes`` their
    uint8 copy when the producer wrote one; returns ``spikes``. A no-op unless :func:`recording`."""
    if recording():
        REGISTRY.record(spikes, as_bytes)
    return spikes


class _Kept(NamedTuple):
    """A tensor saved unchanged, with its version counter at save time."""

    tensor: torch.Tensor
    version: int


class _Compact(NamedTuple):
    """A saved spike view: ``uint8.as_strided(size, stride, offset)`` converted back to ``dtype``."""

    uint8: torch.Tensor
    size: torch.Size
    stride: tuple[int, ...]
    offset: int
    dtype: torch.dtype


class SpikePacker:
    """The ``pack``/``unpack`` pair of :func:`compact_spikes`; ``converted`` counts the saved tensors
    it stored as ``uint8``."""

    def __init__(self, registry: SpikeRegistry = REGISTRY):
        self.registry = registry
        self.converted = 0

    def pack(self, t: torch.Tensor) -> _Kept | _Compact:
        record = self.registry.find(t)
        if record is None:
            return _Kept(t, t._version)
        self.converted += 1
        return _Compact(record.uint8(), t.shape, t.stride(), t.storage_offset() - record.begin, t.dtype)

    @staticmethod
    def unpack(packed: _Kept | _Compact) -> torch.Tensor:
        if isinstance(packed, _Kept):
            if packed.tensor._version != packed.version:
                raise RuntimeError(
                    f"compact_spikes: a tensor saved for backward (shape {list(packed.tensor.shape)}, "
                    f"{packed.tensor.dtype}) was modified by an in-place operation: it is at version "
                    f"{packed.tensor._version}, it was saved at version {packed.version}")
            return packed.tensor
        return _convert(packed.uint8.as_strided(packed.size, packed.stride, packed.offset), packed.dtype)


@contextlib.contextmanager
def compact_spikes() -> Iterator[SpikePacker]:
    """Store the spikes autograd saves inside the block as ``uint8`` (the module docstring has the rules);
    gradients are bit-identical to running without it. Yields the :class:`SpikePacker` (its
    ``converted`` count). Wrap the forward pass; the backward may run inside or after the block::

        with snnc.nn.compact_spikes():
            loss = criterion(net(x), y)
        loss.backward()
    """
    packer = SpikePacker()
    REGISTRY.active += 1
    try:
        with torch.autograd.graph.saved_tensors_hooks(packer.pack, packer.unpack):
            yield packer
    finally:
        REGISTRY.active -= 1


__all__ = ["compact_spikes", "record_spikes", "recording", "SpikePacker", "SpikeRegistry", "REGISTRY"]
