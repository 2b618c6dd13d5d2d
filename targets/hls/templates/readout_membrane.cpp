// ${name}: Readout over ${n} classes, membrane mode (mem = beta * mem + x), rule ${rule}
static ${mem_t} ${fn}_mem[${n}];

void ${fn}_reset() {
  for (int c = 0; c < ${n}; ++c) ${fn}_mem[c] = ${mem_t}(0);
}

void ${fn}(const ${in_t} x[${n}], ${out_t} y[1], bool last) {
  for (int c = 0; c < ${n}; ++c) {
#pragma HLS UNROLL
    ${fn}_mem[c] = ${fn}_beta * ${fn}_mem[c] + x[c];
  }
  int best = 0;  // argmax, ties to the lowest index
  for (int c = 1; c < ${n}; ++c) {
    if (${fn}_mem[c] > ${fn}_mem[best]) best = c;
  }
  y[0] = ${decision};
  if (last) ${fn}_reset();
}
