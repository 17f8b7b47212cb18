/* Per-element pieces of the networks, shared by both backends: the even
 * split of a layer over a tile grid, activations and their derivatives,
 * softmax. exp and log are the library's own (fmath.h), so both backends
 * agree bit for bit. */
#ifndef AIMC_COMMON_NETWORK_H
#define AIMC_COMMON_NETWORK_H

#include "aimc.h"
#include "fmath.h"

/* Block i of n items split evenly into g blocks: sizes differ by at most 1,
 * the larger ones first. */
AIMC_HD int64_t aimc_block_start(int64_t n, int64_t g, int64_t i) {
  return i * (n / g) + (i < n % g ? i : n % g);
}
AIMC_HD int64_t aimc_block_size(int64_t n, int64_t g, int64_t i) {
  return n / g + (i < n % g ? 1 : 0);
}

AIMC_HD float aimc_sigmoid(float v) { return 1.0f / (1.0f + aimc_expf(-v)); }

AIMC_HD float aimc_activate(int32_t act, float v) {
  switch (act) {
    case AIMC_ACT_RELU: return v > 0.0f ? v : 0.0f;
    case AIMC_ACT_SIGMOID: return aimc_sigmoid(v);
    case AIMC_ACT_TANH: return 2.0f * aimc_sigmoid(2.0f * v) - 1.0f;
    default: return v;
  }
}

/* Derivative of the activation from its output y. */
AIMC_HD float aimc_activation_slope(int32_t act, float y) {
  switch (act) {
    case AIMC_ACT_RELU: return y > 0.0f ? 1.0f : 0.0f;
    case AIMC_ACT_SIGMOID: return y * (1.0f - y);
    case AIMC_ACT_TANH: return 1.0f - y * y;
    default: return 1.0f;
  }
}

#endif
