/* CPU backend: memory in host RAM and the operation table. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu.h"

enum { MIN_WORK_PER_THREAD = 1 << 14 };

int aimc_cpu_threads(const aimc_context_t *ctx, int64_t work) {
  if (ctx->n_threads > 0) return ctx->n_threads; /* asked for: always that many */
  int nt = omp_get_max_threads();
  int64_t useful = work / MIN_WORK_PER_THREAD;
  if (useful < 1) return 1;
  return useful < nt ? (int)useful : nt;
}

static aimc_status_t cpu_alloc(aimc_context_t *ctx, void **ptr, size_t bytes) {
  /* 64-byte alignment for vector loads; aligned_alloc wants a multiple. */
  size_t rounded = (bytes + 63u) & ~(size_t)63u;
  void *p = rounded >= bytes ? aligned_alloc(64, rounded) : NULL;
  if (!p)
    return aimc_error(ctx, AIMC_ERR_OUT_OF_MEMORY, "out of host memory (%zu bytes requested)",
                      bytes);
  *ptr = p;
  return AIMC_OK;
}

static void cpu_release(aimc_context_t *ctx, void *ptr) {
  (void)ctx;
  free(ptr);
}

static aimc_status_t cpu_copy(aimc_context_t *ctx, void *dst, const void *src, size_t bytes,
                              aimc_copy_kind_t kind) {
  (void)ctx;
  (void)kind;
  if (dst != src) memmove(dst, src, bytes);
  return AIMC_OK;
}

static aimc_status_t cpu_zero(aimc_context_t *ctx, void *ptr, size_t bytes) {
  (void)ctx;
  memset(ptr, 0, bytes);
  return AIMC_OK;
}

const aimc_backend_ops_t aimc_cpu_backend = {
    .name = "cpu",
    .init = NULL,
    .shutdown = NULL,
    .alloc = cpu_alloc,
    .release = cpu_release,
    .copy = cpu_copy,
    .zero = cpu_zero,
    .synchronize = NULL,
    .sample_devices = aimc_cpu_sample_devices,
    .write_weights = aimc_cpu_write_weights,
    .mvm = aimc_cpu_mvm,
    .update = aimc_cpu_update,
    .decay = aimc_cpu_decay,
    .reset_columns = aimc_cpu_reset_columns,
    .combine = aimc_cpu_combine,
    .transfer_rates = aimc_cpu_transfer_rates,
    .transfer = aimc_cpu_transfer,
    .mixed_precision = aimc_cpu_mixed_precision,
    .stellar = aimc_cpu_stellar,
    .panther = aimc_cpu_panther,
    .net_gather = aimc_cpu_net_gather,
    .net_reduce = aimc_cpu_net_reduce,
    .net_activate = aimc_cpu_net_activate,
    .net_activation_grad = aimc_cpu_net_activation_grad,
    .net_softmax_ce = aimc_cpu_net_softmax_ce,
    .net_bias_update = aimc_cpu_net_bias_update,
    .net_count_correct = aimc_cpu_net_count_correct,
    .net_weights = aimc_cpu_net_weights,
    .scan_finite = aimc_cpu_scan_finite,
    .scan_labels = aimc_cpu_scan_labels,
};
