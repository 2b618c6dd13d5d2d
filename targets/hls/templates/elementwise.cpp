// ${name}: ${op}, ${n} elements
void ${fn}(${args}, ${out_t} y[${n}]) {
  for (int k = 0; k < ${n}; ++k) {
#pragma HLS UNROLL
    y[k] = ${expr};
  }
}
