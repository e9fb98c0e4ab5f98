// The simdjson decoder built for this machine's CPU (-march=native), to
// show what simdjson gains from AVX2 over the baseline x86-64 build.
#define PROCTRACK_BENCH_NATIVE
#define DECODER simdjson_row_decoder_native
#include "simdjson_decoder.cpp"
