/* The weight an analog read sees when an algorithm spreads it over several
 * arrays: gamma A + C for the transfer family (A's chopped gradient
 * de-chopped), G+ - G- for STELLAR, the weighted slice sum for PANTHER. */
#ifndef AIMC_COMMON_COMBINE_H
#define AIMC_COMMON_COMBINE_H

#include "params.h"

/* Chopper sign of weight (i, j): -1 when exactly one of the input and
 * output choppers is negative. */
AIMC_HD float aimc_chopper_sign(const aimc_state_t *st, int64_t t, int64_t i, int64_t j) {
  if (!st->c_in) return 1.0f;
  int neg = (st->c_in[t * st->cols + j] < 0) != (st->c_out[t * st->rows + i] < 0);
  return neg ? -1.0f : 1.0f;
}

/* Signed slice offsets of PANTHER: a cell of b bits holds 0 .. 2^b - 1 and
 * digit value 0 sits in the middle, 2^(b-1), so a slice can absorb the same
 * number of increments either way before it saturates. */
AIMC_HD float aimc_slice_offset(int32_t bits) { return (float)(1 << (bits - 1)); }

/* Place value of slice m of n (most significant first): 4^(n-1-m). */
AIMC_HD float aimc_slice_place(int32_t m, int32_t n) {
  return (float)(1u << (2 * (n - 1 - m)));
}

/* Canonical balanced base-4 digits {-2, -1, 0, 1} of v (in units of
 * weight_step) as slice levels, most significant slice first. Values
 * outside the representable range [-2 (4^n - 1)/3, (4^n - 1)/3] clamp. */
AIMC_HD void aimc_panther_levels(const aimc_algo_params_t *p, float v, float *levels) {
  int32_t n = p->n_slices;
  float top = (float)(((1ll << (2 * n)) - 1) / 3);
  int64_t q = aimc_to_i64(rintf(v), -2.0f * top, top, 0);
  for (int32_t pos = 0; pos < n; ++pos) {
    int64_t r = ((q % 4) + 4) % 4;
    if (r >= 2) r -= 4;
    q = (q - r) / 4;
    int32_t m = n - 1 - pos;
    levels[m] = aimc_slice_offset(p->slice_bits[m]) + (float)r;
  }
}

/* The value each array takes when the tile's weight is set to w: the
 * weight array alone (SGD, mixed precision); C = w and A = 0 (transfer
 * family); G+ = w/2 and G- = -w/2 (STELLAR); canonical digits (PANTHER). */
AIMC_HD void aimc_array_targets(const aimc_algo_params_t *p, float w, float *out) {
  switch (p->kind) {
    case AIMC_ALGO_STELLAR:
      out[0] = 0.5f * w;
      out[1] = -0.5f * w;
      break;
    case AIMC_ALGO_PANTHER:
      aimc_panther_levels(p, w / p->weight_step, out);
      break;
    default:
      out[0] = w;
      out[1] = 0.0f;
      break;
  }
}

/* The combined visible weight of element k = (t, i, j). */
AIMC_HD float aimc_combined_weight(const aimc_state_t *st, int64_t t, int64_t i, int64_t j,
                                   size_t k) {
  const aimc_algo_params_t *p = &st->params[t].algo;
  switch (p->kind) {
    case AIMC_ALGO_STELLAR:
      return st->arr[0].w[k] - st->arr[1].w[k];
    case AIMC_ALGO_PANTHER: {
      float sum = 0.0f; /* integers below 2^24: exact */
      for (int32_t m = 0; m < p->n_slices; ++m)
        sum += aimc_slice_place(m, p->n_slices) *
               (st->arr[m].w[k] - aimc_slice_offset(p->slice_bits[m]));
      return sum * p->weight_step;
    }
    default: /* transfer family */
      if (p->gamma == 0.0f) return st->arr[0].w[k];
      return p->gamma * aimc_chopper_sign(st, t, i, j) * st->arr[1].w[k] + st->arr[0].w[k];
  }
}

#endif
