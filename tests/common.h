/* Helpers shared by the Criterion suites. */
#ifndef AIMC_TESTS_COMMON_H
#define AIMC_TESTS_COMMON_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aimc.h"

/* Asserts an aimc call succeeded, printing the library's message if not. */
#define CK(call)                                                                          \
  do {                                                                                    \
    aimc_status_t ck_s_ = (call);                                                         \
    cr_assert_eq(ck_s_, AIMC_OK, "%s -> %s: %s", #call, aimc_status_string(ck_s_),        \
                 aimc_last_error());                                                      \
  } while (0)

/* Deterministic test data (splitmix64), independent of the library's RNG. */
typedef struct test_rng {
  uint64_t s;
} test_rng_t;

static inline uint64_t test_next(test_rng_t *r) {
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Uniform in [lo, hi). */
static inline float test_uniform(test_rng_t *r, float lo, float hi) {
  return lo + (hi - lo) * (float)((double)(test_next(r) >> 11) * 0x1.0p-53);
}

static inline void test_fill(test_rng_t *r, float *v, size_t n, float lo, float hi) {
  for (size_t i = 0; i < n; ++i) v[i] = test_uniform(r, lo, hi);
}

/* FNV-1a hash of bytes, continuing from h (TEST_FNV_START for a new one): a
 * short fingerprint of weights or statistics to compare runs bit for bit. */
#define TEST_FNV_START 1469598103934665603ull
static inline uint64_t test_fnv(const void *p, size_t bytes, uint64_t h) {
  const unsigned char *c = p;
  for (size_t k = 0; k < bytes; ++k) h = (h ^ c[k]) * 1099511628211ull;
  return h;
}

static inline aimc_context_t *test_context(int n_threads, uint64_t seed) {
  aimc_context_desc_t cd;
  aimc_context_desc_default(&cd);
  cd.backend = AIMC_BACKEND_CPU;
  cd.n_threads = n_threads;
  cd.seed = seed;
  aimc_context_t *ctx = NULL;
  CK(aimc_context_create(&ctx, &cd));
  return ctx;
}

static inline aimc_tiles_t *test_tiles(aimc_context_t *ctx, const aimc_tiles_desc_t *td) {
  aimc_tiles_t *t = NULL;
  CK(aimc_tiles_create(ctx, td, &t));
  return t;
}

static inline float *test_alloc(size_t n) {
  float *p = calloc(n, sizeof(float));
  cr_assert_not_null(p);
  return p;
}

/* A device with no device-to-device or cycle-to-cycle variation. */
static inline void test_ideal_device(aimc_device_desc_t *d) {
  d->dw_min_dtod = 0.0f;
  d->dw_min_std = 0.0f;
  d->up_down_dtod = 0.0f;
  d->w_max_dtod = 0.0f;
  d->w_min_dtod = 0.0f;
  d->reset_std = 0.0f;
  d->gamma_up_dtod = 0.0f;
  d->gamma_down_dtod = 0.0f;
  d->pow_gamma_dtod = 0.0f;
}

/* A counting device: ConstantStep with step `step` (a power of two), no
 * variation or noise and bounds far away, so every weight change is an
 * exact multiple of the step and pulses can be counted from weights. */
static inline void test_counting_device(aimc_device_desc_t *d, float step) {
  aimc_device_desc_default(d, AIMC_DEVICE_CONSTANT_STEP);
  test_ideal_device(d);
  d->dw_min = step;
  d->w_max = 1000.0f;
  d->w_min = -1000.0f;
}

/* A noise-free analog read that is still not "perfect": no quantisation,
 * no noise, no management, generous bounds. */
static inline void test_clean_io(aimc_io_desc_t *io) {
  io->inp_res = 0.0f;
  io->out_res = 0.0f;
  io->out_noise = 0.0f;
  io->noise_management = AIMC_NM_NONE;
  io->bound_management = AIMC_BM_NONE;
  io->inp_bound = 1000.0f;
  io->out_bound = 1.0e6f;
}

#endif
