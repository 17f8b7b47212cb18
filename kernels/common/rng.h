/* Counter-based random numbers shared by both backends.
 *
 * Philox4x32-10 keyed by a 64-bit tile key. The 128-bit counter is built
 * from logical coordinates, never from thread ids:
 *   counter words 2,3 = subsequence = (stream kind << 56) | operation counter
 *   counter words 0,1 = block       = element index chosen by the operation
 * This is exactly cuRAND's device-API mapping: curand_init(key, subsequence,
 * 4 * block, &s) followed by curand4(&s) returns aimc_philox_block(key,
 * subsequence, block). On the device the block comes from cuRAND's own
 * Philox round function; on the host from the twin below, which the tests
 * check against the published Philox4x32-10 known-answer vectors. */
#ifndef AIMC_COMMON_RNG_H
#define AIMC_COMMON_RNG_H

#include "fmath.h"

#if defined(__CUDA_ARCH__)
#include <curand_philox4x32_x.h>
#endif

typedef struct aimc_u32x4 {
  uint32_t v[4];
} aimc_u32x4;

/* Independent streams per operation. Never renumber: checkpoints and
 * reproducibility across versions depend on these values. */
enum aimc_stream_kind {
  AIMC_STREAM_DEVICE_D2D = 1,   /* per-weight device parameters */
  AIMC_STREAM_IO_FIXED = 2,     /* per-output constants of the IO pipeline */
  AIMC_STREAM_MVM_INPUT = 3,    /* + 8 * direction: DAC rounding, input noise */
  AIMC_STREAM_MVM_OUTPUT = 4,   /* + 8 * direction: weight/output noise, ADC rounding */
  AIMC_STREAM_UPDATE_X = 5,     /* pulse trains on the input (column) lines */
  AIMC_STREAM_UPDATE_D = 6,     /* pulse trains on the output (row) lines */
  AIMC_STREAM_UPDATE_PULSE = 7, /* cycle-to-cycle noise of each pulse */
  AIMC_STREAM_WRITE_NOISE = 40, /* visible-weight redraws after pulsing or programming */
  AIMC_STREAM_PROGRAM = 41,     /* unused by programming itself; reserved */
  AIMC_STREAM_DECAY = 42,       /* diffusion */
  AIMC_STREAM_RESET = 43,       /* reset to the reset bias */
  AIMC_STREAM_UPDATE_ROUND = 44 /* stochastic rounding of update probabilities */
};

#define AIMC_STREAM_COUNTER_MASK 0x00ffffffffffffffull

AIMC_HD uint64_t aimc_subsequence(uint32_t kind, uint64_t counter) {
  return ((uint64_t)kind << 56) | (counter & AIMC_STREAM_COUNTER_MASK);
}

AIMC_HD uint32_t aimc_mulhilo32(uint32_t a, uint32_t b, uint32_t *hi) {
  uint64_t p = (uint64_t)a * (uint64_t)b;
  *hi = (uint32_t)(p >> 32);
  return (uint32_t)p;
}

/* The twin of cuRAND's Philox4x32-10 round structure (Salmon et al., SC'11). */
AIMC_HD aimc_u32x4 aimc_philox4x32_10(aimc_u32x4 c, uint32_t k0, uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, hi1;
    uint32_t lo0 = aimc_mulhilo32(0xD2511F53u, c.v[0], &hi0);
    uint32_t lo1 = aimc_mulhilo32(0xCD9E8D57u, c.v[2], &hi1);
    aimc_u32x4 n;
    n.v[0] = hi1 ^ c.v[1] ^ k0;
    n.v[1] = lo1;
    n.v[2] = hi0 ^ c.v[3] ^ k1;
    n.v[3] = lo0;
    c = n;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return c;
}

/* Four random words at logical position (key, subsequence, block). */
AIMC_HD aimc_u32x4 aimc_philox_block(uint64_t key, uint64_t subsequence, uint64_t block) {
#if defined(__CUDA_ARCH__)
  uint4 c = make_uint4((uint32_t)block, (uint32_t)(block >> 32), (uint32_t)subsequence,
                       (uint32_t)(subsequence >> 32));
  uint4 r = curand_Philox4x32_10(c, make_uint2((uint32_t)key, (uint32_t)(key >> 32)));
  aimc_u32x4 out;
  out.v[0] = r.x;
  out.v[1] = r.y;
  out.v[2] = r.z;
  out.v[3] = r.w;
  return out;
#else
  aimc_u32x4 c;
  c.v[0] = (uint32_t)block;
  c.v[1] = (uint32_t)(block >> 32);
  c.v[2] = (uint32_t)subsequence;
  c.v[3] = (uint32_t)(subsequence >> 32);
  return aimc_philox4x32_10(c, (uint32_t)key, (uint32_t)(key >> 32));
#endif
}

/* Uniform in [0, 1) from the top 24 bits: every value is an exact float. */
AIMC_HD float aimc_u01(uint32_t w) { return (float)(w >> 8) * 5.9604644775390625e-8f; }

/* Uniform in (0, 1], for logarithms. */
AIMC_HD float aimc_u01_open0(uint32_t w) {
  return (float)((w >> 8) + 1u) * 5.9604644775390625e-8f;
}

/* Two standard normals from two words (Box-Muller with the library's own
 * log/sin/cos). |z| <= sqrt(2 ln 2^24) = 5.77: the 24-bit uniforms truncate
 * the tails beyond that, a probability below 1e-8. */
AIMC_HD void aimc_normal2(uint32_t w0, uint32_t w1, float *z0, float *z1) {
  float r = sqrtf(-2.0f * aimc_logf(aimc_u01_open0(w0)));
  float s, c;
  aimc_sincos_2pi(aimc_u01(w1), &s, &c);
  *z0 = r * c;
  *z1 = r * s;
}

/* Four standard normals at one logical position. */
AIMC_HD void aimc_normal4(uint64_t key, uint64_t subsequence, uint64_t block, float z[4]) {
  aimc_u32x4 w = aimc_philox_block(key, subsequence, block);
  aimc_normal2(w.v[0], w.v[1], &z[0], &z[1]);
  aimc_normal2(w.v[2], w.v[3], &z[2], &z[3]);
}

/* One standard normal (the first of the block). */
AIMC_HD float aimc_normal1(uint64_t key, uint64_t subsequence, uint64_t block) {
  aimc_u32x4 w = aimc_philox_block(key, subsequence, block);
  float z0, z1;
  aimc_normal2(w.v[0], w.v[1], &z0, &z1);
  return z0;
}

/* A tile's key from the batch seed and tile index (splitmix64 finaliser), so
 * neighbouring tiles get unrelated keys. */
AIMC_HD uint64_t aimc_mix_key(uint64_t seed, uint64_t index) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (index + 1u);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

#endif
