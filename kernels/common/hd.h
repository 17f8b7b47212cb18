/* Qualifiers for code shared verbatim by the CPU and CUDA backends.
 *
 * Everything under kernels/common/ is compiled twice: as C11 by the host
 * compiler (with -ffp-contract=off) and as CUDA C++ by nvcc (with
 * --fmad=false). Only operations whose results IEEE 754 fixes exactly are
 * used (+ - * /, sqrtf, fmaf, rintf, floorf, integer ops), so both
 * compilations produce the same bits. */
#ifndef AIMC_COMMON_HD_H
#define AIMC_COMMON_HD_H

#include <stdint.h>
#if !defined(__CUDACC__)
#include <math.h>
#endif

#if defined(__CUDACC__)
#define AIMC_HD static __host__ __device__ __forceinline__
#else
#define AIMC_HD static inline
#endif

/* Reinterpret float bits without undefined behaviour on either compiler. */
AIMC_HD uint32_t aimc_float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return (uint32_t)__float_as_uint(f);
#else
  union { float f; uint32_t u; } v;
  v.f = f;
  return v.u;
#endif
}

AIMC_HD float aimc_bits_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  union { float f; uint32_t u; } v;
  v.u = u;
  return v.f;
#endif
}

AIMC_HD float aimc_minf(float a, float b) { return a < b ? a : b; }
AIMC_HD float aimc_maxf(float a, float b) { return a > b ? a : b; }
AIMC_HD float aimc_absf(float a) { return aimc_bits_float(aimc_float_bits(a) & 0x7fffffffu); }
AIMC_HD float aimc_clampf(float v, float lo, float hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}
/* Float-to-integer conversions defined for every float: NaN gives
 * nan_value, numbers clamp to [lo, hi] (which the integer type must hold)
 * and truncate toward zero. For numbers in range they are the plain casts,
 * so no result changes; they only remove the undefined behaviour of
 * casting NaN, infinities and huge values. */
AIMC_HD int32_t aimc_to_i32(float v, float lo, float hi, int32_t nan_value) {
  return v == v ? (int32_t)aimc_clampf(v, lo, hi) : nan_value;
}
AIMC_HD int64_t aimc_to_i64(float v, float lo, float hi, int64_t nan_value) {
  return v == v ? (int64_t)aimc_clampf(v, lo, hi) : nan_value;
}
/* 2^62: a float bound every int64 holds. */
#define AIMC_I64_FLOAT_MAX 4.61168602e18f

/* +1 for non-negative, -1 for negative (sign bit), as pulse directions need. */
AIMC_HD float aimc_signf(float v) { return v < 0.0f ? -1.0f : 1.0f; }

#endif
