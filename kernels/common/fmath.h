/* The library's own float log, exp, pow and sin/cos.
 *
 * The C library and CUDA's libdevice give different last bits for logf,
 * expf, powf and sincosf, so no shared computation may call them if the two
 * backends are to agree bit for bit. These versions use only IEEE-exact
 * operations (fmaf, +, *, /, rintf, bit manipulation) in a fixed order, so
 * both compilers produce identical results. Accuracy is about 1-2 ulp on the
 * ranges the library uses (checked against libm in tests/test_rng.c). */
#ifndef AIMC_COMMON_FMATH_H
#define AIMC_COMMON_FMATH_H

#include "hd.h"

#define AIMC_LN2_HI 0.693145751953125f         /* 0x3f317200: few bits, so k*LN2_HI is exact */
#define AIMC_LN2_LO 1.42860676533018704e-06f   /* ln 2 - AIMC_LN2_HI */
#define AIMC_HALF_PI 1.57079632679489662f
#define AIMC_FLT_MIN 1.17549435e-38f
#define AIMC_INF aimc_bits_float(0x7f800000u)

/* 2^k as a float for -126 <= k <= 127. */
AIMC_HD float aimc_pow2i(int k) { return aimc_bits_float((uint32_t)(k + 127) << 23); }

/* Natural log for finite x > 0 (returns -inf for 0, NaN for x < 0).
 * x = m 2^e with m in [sqrt(1/2), sqrt(2)); ln m = 2 atanh(s), s = (m-1)/(m+1),
 * |s| <= 0.1716, so the odd series to s^9 is accurate to float precision. */
AIMC_HD float aimc_logf(float x) {
  if (!(x > 0.0f)) return x == 0.0f ? -AIMC_INF : aimc_bits_float(0x7fc00000u);
  if (x == AIMC_INF) return x;
  int e = 0;
  if (x < AIMC_FLT_MIN) { x *= 8388608.0f; e = -23; } /* subnormal: scale by 2^23 */
  uint32_t bits = aimc_float_bits(x);
  e += (int)((bits >> 23) & 0xffu) - 127;
  float m = aimc_bits_float((bits & 0x007fffffu) | 0x3f800000u);
  if (m > 1.41421356f) { m *= 0.5f; e += 1; }
  float s = (m - 1.0f) / (m + 1.0f);
  float s2 = s * s;
  float p = fmaf(s2, 0.222222222f, 0.285714286f); /* 2/9, 2/7 */
  p = fmaf(s2, p, 0.4f);                           /* 2/5 */
  p = fmaf(s2, p, 0.666666667f);                   /* 2/3 */
  float lnm = fmaf(s * s2, p, 2.0f * s);
  float fe = (float)e;
  return fmaf(fe, AIMC_LN2_HI, fmaf(fe, AIMC_LN2_LO, lnm));
}

/* e^x; overflow gives +inf, underflow 0 (subnormal results are flushed). */
AIMC_HD float aimc_expf(float x) {
  if (x != x) return x;
  if (x > 88.7228f) return AIMC_INF;
  if (x < -87.33f) return 0.0f; /* keeps k >= -126 below */
  float k = rintf(x * 1.44269504f);
  float r = fmaf(-k, AIMC_LN2_HI, x);
  r = fmaf(-k, AIMC_LN2_LO, r); /* |r| <= 0.35: Taylor to r^7 is within 0.1 ulp */
  float p = fmaf(r, 1.98412698e-4f, 1.38888889e-3f);
  p = fmaf(r, p, 8.33333333e-3f);
  p = fmaf(r, p, 4.16666667e-2f);
  p = fmaf(r, p, 1.66666667e-1f);
  p = fmaf(r, p, 0.5f);
  p = fmaf(r, p, 1.0f);
  p = fmaf(r, p, 1.0f);
  int ki = (int)k;
  if (ki > 127) return p * 2.0f * aimc_pow2i(ki - 1);
  return p * aimc_pow2i(ki);
}

/* x^y for x >= 0 via exp(y ln x); 0^y = 0 for y > 0, 1 for y == 0. */
AIMC_HD float aimc_powf(float x, float y) {
  if (y == 0.0f) return 1.0f;
  if (x == 0.0f) return y > 0.0f ? 0.0f : AIMC_INF;
  if (x == 1.0f) return 1.0f;
  return aimc_expf(y * aimc_logf(x));
}

/* sin and cos of 2*pi*u for u in [0, 1). The argument is reduced exactly to
 * a quadrant q and a remainder |a| <= pi/4 where short Taylor series are
 * accurate to float precision. */
AIMC_HD void aimc_sincos_2pi(float u, float *s_out, float *c_out) {
  float t = 4.0f * u;       /* exact */
  float q = rintf(t);       /* nearest quadrant, 0..4 */
  float a = (t - q) * AIMC_HALF_PI;
  float a2 = a * a;
  float s = fmaf(a2, 2.75573192e-6f, -1.98412698e-4f);
  s = fmaf(a2, s, 8.33333333e-3f);
  s = fmaf(a2, s, -1.66666667e-1f);
  s = fmaf(a * a2, s, a);
  float c = fmaf(a2, -2.75573192e-7f, 2.48015873e-5f);
  c = fmaf(a2, c, -1.38888889e-3f);
  c = fmaf(a2, c, 4.16666667e-2f);
  c = fmaf(a2, c, -0.5f);
  c = fmaf(a2, c, 1.0f);
  switch ((int)q & 3) {
    case 0: *s_out = s; *c_out = c; break;
    case 1: *s_out = c; *c_out = -s; break;
    case 2: *s_out = -s; *c_out = -c; break;
    default: *s_out = -c; *c_out = s; break;
  }
}

#endif
