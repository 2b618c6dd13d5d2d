// ${name}: Linear ${n_in} -> ${n_out}, reuse factor ${reuse}
void ${fn}(const ${in_t} x[${n_in}], ${out_t} y[${n_out}]) {
#pragma HLS PIPELINE II=${reuse}
#pragma HLS ALLOCATION operation instances=mul limit=${multipliers}
#pragma HLS ARRAY_PARTITION variable=${fn}_weight cyclic factor=${partition} dim=2
  for (int o = 0; o < ${n_out}; ++o) {
    ${acc_t} acc = ${acc_init};
    for (int i = 0; i < ${n_in}; ++i) {
      acc += ${fn}_weight[o][i] * x[i];
    }
    y[o] = acc;
  }
}
