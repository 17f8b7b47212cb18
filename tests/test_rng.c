/* The shared random-number layer: Philox4x32-10 known answers, the
 * cuRAND-compatible counter layout, uniform and normal distributions, and the
 * library's own log/exp/pow/sin/cos against libm. */
#include "common.h"
#include "kernels/common/devices.h"
#include "kernels/common/rng.h"

/* Published Philox4x32-10 vectors (Random123, tests/kat_vectors): counter,
 * key, expected output. */
static const uint32_t kat[3][10] = {
    {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
    {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d,
     0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
    {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09,
     0x94fdcceb, 0x5001e420, 0x24126ea1},
};

Test(philox, known_answer_vectors) {
  for (int v = 0; v < 3; ++v) {
    aimc_u32x4 c = {{kat[v][0], kat[v][1], kat[v][2], kat[v][3]}};
    aimc_u32x4 r = aimc_philox4x32_10(c, kat[v][4], kat[v][5]);
    for (int k = 0; k < 4; ++k)
      cr_assert_eq(r.v[k], kat[v][6 + k], "vector %d word %d: %08x != %08x", v, k, r.v[k],
                   kat[v][6 + k]);
  }
}

/* curand_init(seed, subsequence, offset) with offset = 4*block puts block in
 * counter words 0-1, the subsequence in words 2-3 and the seed in the key;
 * the third vector read through that layout must give its known answer. */
Test(philox, curand_counter_layout) {
  uint64_t block = ((uint64_t)kat[2][1] << 32) | kat[2][0];
  uint64_t sub = ((uint64_t)kat[2][3] << 32) | kat[2][2];
  uint64_t key = ((uint64_t)kat[2][5] << 32) | kat[2][4];
  aimc_u32x4 r = aimc_philox_block(key, sub, block);
  for (int k = 0; k < 4; ++k) cr_assert_eq(r.v[k], kat[2][6 + k]);
  cr_assert_eq(aimc_subsequence(7, 5), (7ull << 56) | 5ull);
  cr_assert_eq(aimc_subsequence(7, ~0ull), (7ull << 56) | AIMC_STREAM_COUNTER_MASK);
}

Test(uniform, exact_mapping_and_range) {
  cr_assert_eq(aimc_u01(0u), 0.0f);
  cr_assert_eq(aimc_u01(0xffffffffu), 1.0f - 0x1.0p-24f);
  cr_assert_eq(aimc_u01(0x00000100u), 0x1.0p-24f);
  cr_assert_eq(aimc_u01_open0(0u), 0x1.0p-24f);
  cr_assert_eq(aimc_u01_open0(0xffffffffu), 1.0f);
}

/* 2^20 uniforms: mean 1/2 and variance 1/12 within 5 standard errors
 * (SE of the mean sqrt(1/12/N), of the variance sqrt(1/180/N)); chi-square
 * over 100 bins: mean 99, sd sqrt(198), bound 99 + 5 sd. */
Test(uniform, distribution) {
  enum { N = 1 << 20, BINS = 100 };
  static long counts[BINS];
  double s = 0, s2 = 0;
  for (uint64_t b = 0; b < N / 4; ++b) {
    aimc_u32x4 w = aimc_philox_block(12345, aimc_subsequence(9, 3), b);
    for (int k = 0; k < 4; ++k) {
      double u = aimc_u01(w.v[k]);
      s += u;
      s2 += u * u;
      counts[(int)(u * BINS)]++;
    }
  }
  double mean = s / N, var = s2 / N - mean * mean;
  cr_assert_lt(fabs(mean - 0.5), 5 * sqrt(1.0 / 12 / N), "mean %g", mean);
  cr_assert_lt(fabs(var - 1.0 / 12), 5 * sqrt(1.0 / 180 / N), "variance %g", var);
  double chi2 = 0, e = (double)N / BINS;
  for (int i = 0; i < BINS; ++i) chi2 += (counts[i] - e) * (counts[i] - e) / e;
  cr_assert_lt(chi2, 99 + 5 * sqrt(198.0), "chi2 %g", chi2);
}

static double normal_cdf(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

/* 2^20 normals: moments within 5 SE (mean 1/sqrt(N); variance sqrt(2/N);
 * fourth moment sqrt(96/N) since E z^8 = 105); chi-square against the normal
 * CDF over 40 equiprobable bins (mean 39, sd sqrt(78)); the Box-Muller tail
 * bound |z| <= sqrt(2 ln 2^24). */
Test(normal, distribution) {
  enum { N = 1 << 20, BINS = 40 };
  static long counts[BINS];
  double s = 0, s2 = 0, s4 = 0, zmax = 0;
  for (uint64_t b = 0; b < N / 4; ++b) {
    float z[4];
    aimc_normal4(777, aimc_subsequence(AIMC_STREAM_UPDATE_PULSE, 11), b, z);
    for (int k = 0; k < 4; ++k) {
      double v = z[k];
      s += v;
      s2 += v * v;
      s4 += v * v * v * v;
      zmax = fmax(zmax, fabs(v));
      int bin = (int)(normal_cdf(v) * BINS);
      counts[bin < BINS ? bin : BINS - 1]++;
    }
  }
  cr_assert_lt(fabs(s / N), 5 / sqrt((double)N), "mean %g", s / N);
  cr_assert_lt(fabs(s2 / N - 1), 5 * sqrt(2.0 / N), "variance %g", s2 / N);
  cr_assert_lt(fabs(s4 / N - 3), 5 * sqrt(96.0 / N), "fourth moment %g", s4 / N);
  cr_assert_leq(zmax, sqrt(2 * log(16777216.0)) + 1e-5, "max |z| %g", zmax);
  double chi2 = 0, e = (double)N / BINS;
  for (int i = 0; i < BINS; ++i) chi2 += (counts[i] - e) * (counts[i] - e) / e;
  cr_assert_lt(chi2, 39 + 5 * sqrt(78.0), "chi2 %g", chi2);
}

/* Different keys or subsequences give uncorrelated streams: |r| < 5/sqrt(N). */
Test(normal, streams_are_uncorrelated) {
  enum { N = 1 << 18 };
  const uint64_t keys[3] = {1, 2, 1};
  const uint64_t subs[3] = {aimc_subsequence(5, 0), aimc_subsequence(5, 0),
                            aimc_subsequence(5, 1)};
  for (int p = 0; p < 2; ++p) {
    double sxy = 0, sx = 0, sy = 0, sxx = 0, syy = 0;
    for (uint64_t b = 0; b < N; ++b) {
      double x = aimc_normal1(keys[0], subs[0], b);
      double y = aimc_normal1(keys[p + 1], subs[p + 1], b);
      sxy += x * y, sx += x, sy += y, sxx += x * x, syy += y * y;
    }
    double r = (sxy / N - sx / N * sy / N) /
               sqrt((sxx / N - sx * sx / N / N) * (syy / N - sy * sy / N / N));
    cr_assert_lt(fabs(r), 5 / sqrt((double)N), "pair %d correlation %g", p, r);
  }
}

/* The cached stream gives normal k from block base + k/4, and seeking lands
 * on the same values. */
Test(normal, stream_order_and_seek) {
  aimc_normal_stream_t s, t;
  aimc_normal_stream_init(&s, 99, aimc_subsequence(7, 4), 1000);
  float z[4];
  for (uint32_t k = 0; k < 23; ++k) {
    float v = aimc_normal_stream_next(&s);
    aimc_normal4(99, aimc_subsequence(7, 4), 1000 + k / 4, z);
    cr_assert_eq(v, z[k % 4], "normal %u", k);
    aimc_normal_stream_init(&t, 99, aimc_subsequence(7, 4), 1000);
    aimc_normal_stream_seek(&t, k);
    cr_assert_eq(aimc_normal_stream_next(&t), v, "seek to %u", k);
  }
}

Test(keys, mixed_keys_are_distinct) {
  enum { N = 1 << 16 };
  uint64_t *k = malloc(N * sizeof *k);
  cr_assert_not_null(k);
  for (uint64_t i = 0; i < N; ++i) k[i] = aimc_mix_key(42, i);
  for (uint64_t i = 0; i < N; ++i)
    for (uint64_t j = i + 1; j < i + 64 && j < N; ++j) cr_assert_neq(k[i], k[j]);
  cr_assert_neq(aimc_mix_key(1, 0), aimc_mix_key(2, 0));
  free(k);
}

/* Relative error against double-precision libm, in units of 2^-24. */
static double rel_ulps(double got, double want) {
  return fabs(got - want) / fmax(fabs(want), 1e-300) / 0x1.0p-24;
}

Test(fmath, logf_accuracy) {
  double worst = 0;
  test_rng_t r = {1};
  for (int i = 0; i < 200000; ++i) {
    float x = expf(test_uniform(&r, -87.0f, 88.0f));
    double want = log((double)x);
    if (fabs(want) < 1e-3) continue; /* near 1 the absolute error is the measure */
    worst = fmax(worst, rel_ulps(aimc_logf(x), want));
  }
  for (float x = 0.999f; x < 1.001f; x = nextafterf(x, 2.0f))
    cr_assert_lt(fabs(aimc_logf(x) - log((double)x)), 2e-7 * fabs(x - 1.0f) + 1e-12);
  cr_assert_lt(worst, 6.0, "worst logf error %g x 2^-24", worst);
  cr_assert_eq(aimc_logf(1.0f), 0.0f);
  cr_assert(isinf(aimc_logf(0.0f)) && aimc_logf(0.0f) < 0);
  cr_assert(isnan(aimc_logf(-1.0f)));
  cr_assert_lt(rel_ulps(aimc_logf(1e-40f), log(1e-40)), 6.0); /* subnormal */
}

Test(fmath, expf_accuracy) {
  double worst = 0;
  for (float x = -87.0f; x < 88.7f; x += 0.00731f)
    worst = fmax(worst, rel_ulps(aimc_expf(x), exp((double)x)));
  cr_assert_lt(worst, 4.0, "worst expf error %g x 2^-24", worst);
  cr_assert_eq(aimc_expf(0.0f), 1.0f);
  cr_assert_eq(aimc_expf(-100.0f), 0.0f);
  cr_assert(isinf(aimc_expf(100.0f)));
}

/* pow = exp(y ln x): the error of ln x is amplified by |y ln x|. */
Test(fmath, powf_accuracy) {
  test_rng_t r = {2};
  for (int i = 0; i < 100000; ++i) {
    float x = test_uniform(&r, 1e-6f, 1.0f), y = test_uniform(&r, 0.05f, 5.0f);
    double want = pow((double)x, (double)y);
    double bound = 6.0 * (1.0 + fabs(y * log((double)x)));
    cr_assert_lt(rel_ulps(aimc_powf(x, y), want), bound, "pow(%g, %g)", x, y);
  }
  cr_assert_eq(aimc_powf(0.0f, 2.0f), 0.0f);
  cr_assert_eq(aimc_powf(0.3f, 0.0f), 1.0f);
  cr_assert_eq(aimc_powf(1.0f, 7.0f), 1.0f);
}

Test(fmath, sincos_accuracy) {
  double worst = 0;
  for (uint32_t w = 0; w < (1u << 24); w += 97) {
    float u = (float)w * 0x1.0p-24f, s, c;
    aimc_sincos_2pi(u, &s, &c);
    double a = 6.283185307179586477 * (double)u;
    worst = fmax(worst, fmax(fabs(s - sin(a)), fabs(c - cos(a))));
  }
  cr_assert_lt(worst, 3e-7, "worst absolute sin/cos error %g", worst);
}
