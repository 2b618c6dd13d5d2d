// ${name}: Delay of ${steps} step(s), ${n} values: the output is the input of ${steps} steps before
static ${out_t} ${fn}_q[${steps}][${n}];  // the last inputs, oldest first

void ${fn}_reset() {
  for (int j = 0; j < ${steps}; ++j)
    for (int k = 0; k < ${n}; ++k) ${fn}_q[j][k] = ${out_t}(0);
}

void ${fn}(${out_t} y[${n}]) {
  for (int k = 0; k < ${n}; ++k) {
#pragma HLS UNROLL
    y[k] = ${fn}_q[0][k];
  }
}

// after every layer of the step (the input may be a later layer: a recurrent cycle)
void ${fn}_take_in(const ${in_t} x[${n}], bool last) {
  for (int j = 0; j + 1 < ${steps}; ++j)
    for (int k = 0; k < ${n}; ++k) ${fn}_q[j][k] = ${fn}_q[j + 1][k];
  for (int k = 0; k < ${n}; ++k) ${fn}_q[${steps} - 1][k] = x[k];
  if (last) ${fn}_reset();
}
