// WINNOW_CLONES: builds a hot loop for AVX2 and for baseline x86-64
// (target_clones), dispatched once at load time through an ifunc. Not
// -march=native: the binary stays portable. The avx2 target has no FMA, so
// every clone computes the same bits.
//
// Off with clang (which rejects clones of templates) and where
// WINNOW_NO_CLONES is defined: the ThreadSanitizer build, whose
// instrumented ifunc resolvers run before the TSan runtime is initialized
// and crash the process at load time.
#ifndef WINNOW_SELECTION_CLONES_H_
#define WINNOW_SELECTION_CLONES_H_

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(WINNOW_NO_CLONES)
#define WINNOW_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define WINNOW_CLONES
#endif

#endif  // WINNOW_SELECTION_CLONES_H_
