// ${name}: Readout over ${n} classes, spike mode, rule ${rule}, class threshold ${class_threshold}
static int ${fn}_count[${n}];
static int ${fn}_first;

void ${fn}_reset() {
  for (int c = 0; c < ${n}; ++c) ${fn}_count[c] = 0;
  ${fn}_first = -1;
}

void ${fn}(const ${in_t} x[${n}], ${out_t} y[1], bool last) {
  for (int c = 0; c < ${n}; ++c) {
    if (x[c] != ${in_t}(0)) ++${fn}_count[c];
  }
  for (int c = 0; c < ${n} && ${fn}_first < 0; ++c) {
    if (${fn}_count[c] >= ${class_threshold}) ${fn}_first = c;
  }
  int best = 0;  // argmax, ties to the lowest index
  for (int c = 1; c < ${n}; ++c) {
    if (${fn}_count[c] > ${fn}_count[best]) best = c;
  }
  y[0] = ${out_t}(${decision});
  if (last) ${fn}_reset();
}
