// ${name}: Neuron, ${n} neurons: charge ${charge}, fire H ${cmp} v_threshold, ${reset} reset (${timing})
static ${v_t} ${fn}_v[${n}];${state_decls}

void ${fn}_reset() {
  for (int k = 0; k < ${n}; ++k) {
    ${fn}_v[k] = ${v_init};${state_resets}
  }
}

void ${fn}(const ${in_t} x[${n}], ${out_t} s[${n}], bool last) {
#pragma HLS ARRAY_PARTITION variable=${fn}_v complete
  for (int k = 0; k < ${n}; ++k) {
#pragma HLS UNROLL
${body}
    s[k] = ${output};
  }
  if (last) ${fn}_reset();
}
