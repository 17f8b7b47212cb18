/* CUDA loops of the network steps, the twin of kernels/cpu/cpu_network.c:
 * per-sample vectors between a layer and its tiles, activations, softmax
 * cross entropy, biases, accuracy. One thread per element; sums run in the
 * CPU's order. */
#include "kernels/common/network.h"
#include "kernels/cuda/cuda_common.cuh"

__device__ static inline int64_t side_n(const aimc_layer_map_t &m, int side) {
  return side ? m.out : m.in;
}
__device__ static inline int64_t side_grid(const aimc_layer_map_t &m, int side) {
  return side ? m.grid_r : m.grid_c;
}
__device__ static inline int64_t side_width(const aimc_layer_map_t &m, int side) {
  return side ? m.tr : m.tc;
}

static aimc_status_t launched(aimc_context_t *ctx, const char *kernel) {
  return aimc_cuda_launched(ctx, kernel);
}

/* One thread per (tile, sample, slot) of the tiles' copies. */
__global__ void gather_kernel(aimc_layer_map_t m, int side, const float *v, int64_t v_rep_stride,
                              int64_t batch, float *tiles, uint64_t n) {
  int64_t per_rep = (int64_t)m.grid_r * m.grid_c;
  int64_t vn = side_n(m, side), g = side_grid(m, side), w = side_width(m, side);
  AIMC_GRID_LOOP(e, n) {
    int64_t q = (int64_t)(e % (uint64_t)w), tb = (int64_t)(e / (uint64_t)w);
    int64_t t = tb / batch, b = tb % batch, k = t / per_rep, cell = t % per_rep;
    int64_t blk = side ? cell / m.grid_c : cell % m.grid_c;
    int64_t start = aimc_block_start(vn, g, blk), size = aimc_block_size(vn, g, blk);
    tiles[e] = q < size ? v[k * v_rep_stride + b * vn + start + q] : 0.0f;
  }
}

aimc_status_t aimc_cuda_net_gather(aimc_context_t *ctx, const aimc_layer_map_t *m, int side,
                                   const float *v, int64_t v_rep_stride, int64_t batch,
                                   float *tiles) {
  aimc_status_t s = aimc_cuda_begin(ctx);
  if (s != AIMC_OK) return s;
  uint64_t n = (uint64_t)m->grid_r * (uint64_t)m->grid_c * (uint64_t)m->replicas * (uint64_t)batch *
               (uint64_t)(side ? m->tr : m->tc);
  AIMC_LAUNCH_N(gather_kernel, ctx, n)(*m, side, v, v_rep_stride, batch, tiles, n);
  return launched(ctx, "gather_kernel");
}

/* One thread per (replica, sample, element): the sum over the other grid
 * dimension in grid order. */
__global__ void reduce_kernel(aimc_layer_map_t m, int side, const float *tiles, int64_t batch,
                              float *v, uint64_t n) {
  int64_t per_rep = (int64_t)m.grid_r * m.grid_c;
  int64_t vn = side_n(m, side), g = side_grid(m, side), w = side_width(m, side);
  int64_t other = side ? m.grid_c : m.grid_r;
  AIMC_GRID_LOOP(e, n) {
    int64_t idx = (int64_t)(e % (uint64_t)vn), kb = (int64_t)(e / (uint64_t)vn);
    int64_t k = kb / batch, b = kb % batch;
    int64_t blk = 0; /* the block holding idx: sizes differ by one, larger first */
    while (blk + 1 < g && aimc_block_start(vn, g, blk + 1) <= idx) ++blk;
    int64_t q = idx - aimc_block_start(vn, g, blk);
    float acc = 0.0f;
    for (int64_t o = 0; o < other; ++o) {
      int64_t cell = side ? blk * m.grid_c + o : o * m.grid_c + blk;
      acc = acc + tiles[((k * per_rep + cell) * batch + b) * w + q];
    }
    v[e] = acc;
  }
}

aimc_status_t aimc_cuda_net_reduce(aimc_context_t *ctx, const aimc_layer_map_t *m, int side,
                                   const float *tiles, int64_t batch, float *v) {
  aimc_status_t s = aimc_cuda_begin(ctx);
  if (s != AIMC_OK) return s;
  uint64_t n = (uint64_t)m->replicas * (uint64_t)batch * (uint64_t)(side ? m->out : m->in);
  AIMC_LAUNCH_N(reduce_kernel, ctx, n)(*m, side, tiles, batch, v, n);
  return launched(ctx, "reduce_kernel");
}

__global__ void activate_kernel(aimc_layer_map_t m, const float *bias, int64_t batch, float *y,
                                uint64_t n) {
  AIMC_GRID_LOOP(e, n) {
    int64_t i = (int64_t)(e % (uint64_t)m.out), k = (int64_t)(e / (uint64_t)m.out) / batch;
    float v = bias ? y[e] + bias[k * m.out + i] : y[e];
    y[e] = aimc_activate(m.activation, v);
  }
}

aimc_status_t aimc_cuda_net_activate(aimc_context_t *ctx, const aimc_layer_map_t *m,
                                     const float *bias, int64_t batch, float *y) {
  aimc_status_t s = aimc_cuda_begin(ctx);
  if (s != AIMC_OK) return s;
  uint64_t n = (uint64_t)m->replicas * (uint64_t)batch * (uint64_t)m->out;
  AIMC_LAUNCH_N(activate_kernel, ctx, n)(*m, bias, batch, y, n);
  return launched(ctx, "activate_kernel");
}

__global__ void activation_grad_kernel(int32_t act, const float *y, float *d, uint64_t n) {
  AIMC_GRID_LOOP(e, n) d[e] = d[e] * aimc_activation_slope(act, y[e]);
}

aimc_status_t aimc_cuda_net_activation_grad(aimc_context_t *ctx, const aimc_layer_map_t *m,
                                            const float *y, int64_t batch, float *d) {
  aimc_status_t s = aimc_cuda_begin(ctx);
  if (s != AIMC_OK) return s;
  uint64_t n = (uint64_t)m->replicas * (uint64_t)batch * (uint64_t)m->out;
  AIMC_LAUNCH_N(activation_grad_kernel, ctx, n)(m->activation, y, d, n);
  return launched(ctx, "activation_grad_kernel");
}

/* Per (replica, sample): the softmax gradient and the sample's loss term. */
__global__ void softmax_kernel(int64_t batch, int32_t classes, const float *logits,
                               const int32_t *labels, float *grad, float *terms, uint64_t n) {
  AIMC_GRID_LOOP(kb, n) {
    const float *z = logits + kb * (uint64_t)classes;
    float *g = grad + kb * (uint64_t)classes;
    float zmax = z[0];
    for (int32_t c = 1; c < classes; ++c) zmax = aimc_maxf(zmax, z[c]);
    float sum = 0.0f;
    for (int32_t c = 0; c < classes; ++c) sum += g[c] = aimc_expf(z[c] - zmax);
    int32_t y = labels[kb % (uint64_t)batch];
    terms[kb] = aimc_logf(sum) - (z[y] - zmax);
    for (int32_t c = 0; c < classes; ++c)
      g[c] = (g[c] / sum - (c == y ? 1.0f : 0.0f)) / (float)batch;
  }
}

/* Per replica: the mean of the terms, summed in sample order. */
__global__ void loss_kernel(int32_t replicas, int64_t batch, const float *terms, float *loss) {
  AIMC_GRID_LOOP(k, (uint64_t)replicas) {
    float total = 0.0f;
    for (int64_t b = 0; b < batch; ++b) total += terms[k * (uint64_t)batch + (uint64_t)b];
    loss[k] = total / (float)batch;
  }
}

aimc_status_t aimc_cuda_net_softmax_ce(aimc_context_t *ctx, int32_t replicas, int64_t batch,
                                       int32_t classes, const float *logits, const int32_t *labels,
                                       float *grad, float *loss) {
  aimc_status_t s = aimc_cuda_begin(ctx);
  if (s != AIMC_OK) return s;
  uint64_t n = (uint64_t)replicas * (uint64_t)batch;
  float *terms;
  if ((s = aimc_cuda_workspace(ctx, (size_t)n * sizeof(float), (void **)&terms)) != AIMC_OK)
    return s;
  AIMC_LAUNCH_N(softmax_kernel, ctx, n)(batch, classes, logits, labels, grad, terms, n);
  if ((s = launched(ctx, "softmax_kernel")) != AIMC_OK) return s;
  AIMC_LAUNCH_N(loss_kernel, ctx, (uint64_t)replicas)(replicas, batch, terms, loss);
  return launched(ctx, "loss_kernel");
}

__global__ void bias_kernel(aimc_layer_map_t m, const float *d, int64_t batch, float lr,
                            float *bias, uint64_t n) {
  AIMC_GRID_LOOP(ki, n) {
    int64_t k = (int64_t)(ki / (uint64_t)m.out), i = (int64_t)(ki % (uint64_t)m.out);
    float acc = 0.0f;
    for (int64_t b = 0; b < batch; ++b) acc += d[(k * batch + b) * m.out + i];
    bias[ki] = bias[ki] - lr * acc;
  }
}

aimc_status_t aimc_cuda_net_bias_update(aimc_context_t *ctx, const aimc_layer_map_t *m,
                                        const float *d, int64_t batch, float lr, float *bias) {
  aimc_status_t s = aimc_cuda_begin(ctx);
  if (s != AIMC_OK) return s;
  uint64_t n = (uint64_t)m->replicas * (uint64_t)m->out;
  AIMC_LAUNCH_N(bias_kernel, ctx, n)(*m, d, batch, lr, bias, n);
  return launched(ctx, "bias_kernel");
}

__global__ void correct_kernel(int64_t batch, int32_t classes, const float *logits,
                               const int32_t *labels, int64_t *correct, uint64_t n) {
  AIMC_GRID_LOOP(kb, n) {
    const float *z = logits + kb * (uint64_t)classes;
    int32_t best = 0;
    for (int32_t c = 1; c < classes; ++c)
      if (z[c] > z[best]) best = c;
    if (best == labels[kb % (uint64_t)batch])
      atomicAdd((unsigned long long *)&correct[kb / (uint64_t)batch], 1ull);
  }
}

aimc_status_t aimc_cuda_net_count_correct(aimc_context_t *ctx, int32_t replicas, int64_t batch,
                                          int32_t classes, const float *logits,
                                          const int32_t *labels, int64_t *correct) {
  aimc_status_t s = aimc_cuda_begin(ctx);
  if (s != AIMC_OK) return s;
  uint64_t n = (uint64_t)replicas * (uint64_t)batch;
  AIMC_LAUNCH_N(correct_kernel, ctx, n)(batch, classes, logits, labels, correct, n);
  return launched(ctx, "correct_kernel");
}

/* One thread per tile weight: layer [replicas][out][in] <-> tiles. */
__global__ void weights_kernel(aimc_layer_map_t m, int to_tiles, float *layer, float *tiles,
                               uint64_t n) {
  int64_t per_rep = (int64_t)m.grid_r * m.grid_c, per_tile = (int64_t)m.tr * m.tc;
  AIMC_GRID_LOOP(e, n) {
    int64_t t = (int64_t)(e / (uint64_t)per_tile), rem = (int64_t)(e % (uint64_t)per_tile);
    int64_t i = rem / m.tc, j = rem % m.tc;
    int64_t k = t / per_rep, r = (t % per_rep) / m.grid_c, c = t % m.grid_c;
    int64_t r0 = aimc_block_start(m.out, m.grid_r, r), rn = aimc_block_size(m.out, m.grid_r, r);
    int64_t c0 = aimc_block_start(m.in, m.grid_c, c), cn = aimc_block_size(m.in, m.grid_c, c);
    int inside = i < rn && j < cn;
    float *lw = inside ? layer + (k * m.out + r0 + i) * m.in + c0 + j : NULL;
    if (to_tiles)
      tiles[e] = inside ? *lw : 0.0f;
    else if (inside)
      *lw = tiles[e];
  }
}

aimc_status_t aimc_cuda_net_weights(aimc_context_t *ctx, const aimc_layer_map_t *m, int to_tiles,
                                    float *layer, float *tiles) {
  aimc_status_t s = aimc_cuda_begin(ctx);
  if (s != AIMC_OK) return s;
  uint64_t n = (uint64_t)m->grid_r * (uint64_t)m->grid_c * (uint64_t)m->replicas * (uint64_t)m->tr *
               (uint64_t)m->tc;
  AIMC_LAUNCH_N(weights_kernel, ctx, n)(*m, to_tiles, layer, tiles, n);
  return launched(ctx, "weights_kernel");
}
