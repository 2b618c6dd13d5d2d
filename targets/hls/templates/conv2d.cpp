// ${name}: Conv2d [${c_in}, ${h_in}, ${w_in}] -> [${c_out}, ${h_out}, ${w_out}], kernel ${kh}x${kw},
// stride ${sh}x${sw}, padding ${ph}x${pw}, dilation ${dh}x${dw}, groups ${groups}, reuse factor ${reuse}
void ${fn}(const ${in_t} x[${n_in}], ${out_t} y[${n_out}]) {
#pragma HLS ALLOCATION operation instances=mul limit=${multipliers}
  for (int o = 0; o < ${c_out}; ++o) {
    const int group = o / ${out_per_group};
    for (int i = 0; i < ${h_out}; ++i) {
      for (int j = 0; j < ${w_out}; ++j) {
#pragma HLS PIPELINE II=${reuse}
        ${acc_t} acc = ${acc_init};
        for (int c = 0; c < ${c_per_group}; ++c) {
          for (int u = 0; u < ${kh}; ++u) {
            const int r = i * ${sh} + u * ${dh} - ${ph};
            if (r < 0 || r >= ${h_in}) continue;
            for (int v = 0; v < ${kw}; ++v) {
              const int q = j * ${sw} + v * ${dw} - ${pw};
              if (q < 0 || q >= ${w_in}) continue;
              acc += ${fn}_weight[o][c][u][v] * x[((group * ${c_per_group} + c) * ${h_in} + r) * ${w_in} + q];
            }
          }
        }
        y[(o * ${h_out} + i) * ${w_out} + j] = acc;
      }
    }
  }
}
