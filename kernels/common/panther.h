/* PANTHER (Ankit et al., IEEE TC 2020), shared by both backends: weights
 * bit-sliced over n arrays, slice m holding base-4 digit (n-1-m) of
 * W / weight_step as a cell level around its offset (combine.h).
 * Outer-product accumulation as in the PUMA simulator: x is streamed bit by
 * bit; for every set bit j of |x| (in units of input_step) the slice at
 * position p receives digit p of |lr d| 2^j (in units of weight_step /
 * input_step), all slices at once, carries deferred; the top slice takes
 * every higher digit. Each unit is one device pulse, so a cell saturates at
 * its level limits. Carry resolution reads the slices and rewrites
 * canonical digits. */
#ifndef AIMC_COMMON_PANTHER_H
#define AIMC_COMMON_PANTHER_H

#include "combine.h"

#define AIMC_PANTHER_MAX_INPUT 32767

/* |x| in units of input_step, at most 15 bits. */
AIMC_HD uint32_t aimc_panther_input(const aimc_algo_params_t *p, float x) {
  return (uint32_t)aimc_minf(rintf(aimc_absf(x) / p->input_step), (float)AIMC_PANTHER_MAX_INPUT);
}

/* |lr d| in units of weight_step / input_step, rounded stochastically (up
 * with probability equal to the fraction): unbiased, so increments below a
 * unit still count on average, and exact for whole numbers. Capped at 2^24. */
AIMC_HD uint32_t aimc_panther_delta(const aimc_algo_params_t *p, float lr, float d, float u) {
  float q = aimc_minf(aimc_absf(lr * d) / (p->weight_step / p->input_step), 16777216.0f);
  float f = floorf(q);
  return (uint32_t)f + (u < q - f ? 1u : 0u);
}

/* Increment of the slice at position pos (0 = least significant) of n for
 * one sample with input magnitude xq and delta magnitude dq, at most
 * `limit` (a cell saturates long before twice its level count). */
AIMC_HD uint32_t aimc_panther_increment(uint32_t xq, uint32_t dq, int32_t pos, int32_t n,
                                        uint32_t limit) {
  uint64_t inc = 0;
  for (int32_t j = 0; j < 16; ++j) {
    if (!((xq >> j) & 1u)) continue;
    uint64_t v = (uint64_t)dq << j;
    inc += pos == n - 1 ? v >> (2 * pos) : (v >> (2 * pos)) & 3u;
  }
  return inc < limit ? (uint32_t)inc : limit;
}

/* The value held by the slices of one weight, in units of weight_step
 * (levels from the arrays' visible states). */
AIMC_HD float aimc_panther_value(const aimc_algo_params_t *p, const float *levels) {
  float v = 0.0f;
  for (int32_t m = 0; m < p->n_slices; ++m)
    v += aimc_slice_place(m, p->n_slices) * (levels[m] - aimc_slice_offset(p->slice_bits[m]));
  return v;
}

#endif
