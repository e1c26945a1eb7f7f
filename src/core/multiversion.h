// SHOAL_MULTIVERSION: compile a hot loop for AVX-512, AVX2 and the baseline, picked at load time
// (GCC/Clang function multiversioning), so a portable build still runs wide vectors.
#pragma once

// Multiversioning resolves through an ifunc that runs before a sanitizer runtime is up (TSan
// instruments the resolver and crashes at load time): one version under sanitizers.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define SHOAL_MULTIVERSION
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define SHOAL_MULTIVERSION
#endif
#endif
#ifndef SHOAL_MULTIVERSION
#define SHOAL_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
