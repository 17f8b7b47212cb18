/* STELLAR (Zhang et al., Science 2023), shared by both backends: a sign
 * update without learning rate on differential pairs W = G+ - G-.
 * Per sample, input j is selected when x_j > c1 max(x) (and x_j > 0), output
 * i when its error e_i = -d_i reaches the threshold: s_e = sign(e_i) if
 * |e_i| >= Th, and, when the outputs y are given, y_i >= C2. Each selected pair gets one pulse, on one device only:
 * samples alternate RESET cycles (U = +1 lowers G-, U = -1 lowers G+) and
 * SET cycles (U = +1 raises G+, U = -1 raises G-), U = s_e. */
#ifndef AIMC_COMMON_STELLAR_H
#define AIMC_COMMON_STELLAR_H

#include "params.h"

/* Whether input x (of a sample whose largest input is x_max) is selected. */
AIMC_HD int aimc_stellar_input(const aimc_algo_params_t *p, float x, float x_max) {
  return x > 0.0f && x > p->stellar_c1 * x_max;
}

/* The ternary error sign of an output with gradient d (e = -d). */
AIMC_HD int aimc_stellar_error(const aimc_algo_params_t *p, float d) {
  float e = -d;
  if (e > 0.0f && e >= p->stellar_threshold) return 1;
  if (e < 0.0f && -e >= p->stellar_threshold) return -1;
  return 0;
}

/* Whether output y passes the output gate (no outputs given: always). */
AIMC_HD int aimc_stellar_output(const aimc_algo_params_t *p, const float *y, int64_t i) {
  return !y || y[i] >= p->stellar_c2;
}

/* The pulse of a selected pair with update sign u on sample number n:
 * which array (0 = G+, 1 = G-) and whether it goes up. */
AIMC_HD void aimc_stellar_pulse(int u, uint64_t n, int32_t *array, int *up) {
  int set_cycle = (int)(n & 1u); /* RESET on even samples, SET on odd ones */
  if (set_cycle) {
    *array = u > 0 ? 0 : 1;
    *up = 1;
  } else {
    *array = u > 0 ? 1 : 0;
    *up = 0;
  }
}

#endif
