// ${name}: ${op} [${c}, ${h_in}, ${w_in}] -> [${c}, ${h_out}, ${w_out}], kernel ${kh}x${kw},
// stride ${sh}x${sw}, padding ${ph}x${pw} (padding is skipped: zero for sums, never the maximum)
void ${fn}(const ${in_t} x[${n_in}], ${out_t} y[${n_out}]) {
  for (int ch = 0; ch < ${c}; ++ch) {
    for (int i = 0; i < ${h_out}; ++i) {
      for (int j = 0; j < ${w_out}; ++j) {
#pragma HLS PIPELINE II=1
        ${init}
        for (int u = 0; u < ${kh}; ++u) {
          const int r = i * ${sh} + u - ${ph};
          if (r < 0 || r >= ${h_in}) continue;
          for (int v = 0; v < ${kw}; ++v) {
            const int q = j * ${sw} + v - ${pw};
            if (q < 0 || q >= ${w_in}) continue;
            const ${in_t} value = x[(ch * ${h_in} + r) * ${w_in} + q];
            ${update}
          }
        }
        y[(ch * ${h_out} + i) * ${w_out} + j] = ${store};
      }
    }
  }
}
