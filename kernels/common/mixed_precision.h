/* Mixed precision (Nandakumar et al. 2020), shared by both backends: a
 * digital accumulator chi += lr d x^T (optionally with x and d binned to
 * n levels of their largest magnitude, stochastically rounded); every
 * transfer_every mini-batches whole rows of chi move to the analog weights:
 * m = trunc(chi / g) steps of size g are written, chi -= m g. */
#ifndef AIMC_COMMON_MIXED_PRECISION_H
#define AIMC_COMMON_MIXED_PRECISION_H

#include "params.h"
#include "rng.h"
#include "update.h"

/* x quantised to bins of width max|x| / floor(n_bins/2), rounded
 * stochastically with the uniform u in [0, 1) (n_bins = 0: x unchanged). */
AIMC_HD float aimc_mp_bin(float x, float abs_max, int32_t n_bins, float u) {
  if (n_bins <= 0) return x;
  float half = floorf((float)n_bins / 2.0f);
  float width = half > 0.0f && abs_max > 0.0f ? abs_max / half : 1.0f;
  float q = aimc_clampf(floorf(x / width + u), -half, half);
  return q * width;
}

/* Mini-batches between transfers. */
AIMC_HD int64_t aimc_mp_period(const aimc_algo_params_t *p) {
  float e = rintf(p->transfer_every);
  return aimc_to_i64(e, 1.0f, AIMC_I64_FLOAT_MAX, 1);
}

/* Rows written per transfer. */
AIMC_HD int32_t aimc_mp_rows(const aimc_algo_params_t *p, int32_t rows) {
  return p->n_rows_per_transfer < 0 || p->n_rows_per_transfer > rows ? rows
                                                                     : p->n_rows_per_transfer;
}

/* Moves whole steps of one chi element into the weight: returns the signed
 * number of device pulses (up > 0), chi keeps the remainder. W moves by
 * -g m transfer_lr, i.e. round(|m| transfer_lr g / dw_min) pulses (at most
 * AIMC_MAX_WRITE_PULSES). */
AIMC_HD int32_t aimc_mp_transfer_element(const aimc_algo_params_t *p, float *chi) {
  float g = p->mp_granularity;
  float m = truncf(*chi / g);
  if (m == 0.0f) return 0;
  *chi = *chi - m * g;
  float pulses = rintf(aimc_absf(m) * p->transfer_lr * g / p->dw_min_slow);
  return aimc_write_pulses(m > 0.0f ? -pulses : pulses);
}

#endif
