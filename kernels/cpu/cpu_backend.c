/* CPU backend: memory in host RAM and the operation table. */
#include <omp.h>
#include <stdatomic.h>
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

/* The backend's per-context data (ctx->backend_data). */
typedef struct cpu_ctx {
  aimc_cpu_env_t env;
  _Atomic(aimc_cpu_arena_t *) spare; /* the kept arena, NULL while taken */
} cpu_ctx_t;

enum { TRAIN_BUDGET_BYTES = 16 << 20 };

static aimc_status_t cpu_init(aimc_context_t *ctx) {
  cpu_ctx_t *c = calloc(1, sizeof *c);
  aimc_cpu_arena_t *a = calloc(1, sizeof *a);
  if (!c || !a) {
    free(c);
    free(a);
    return aimc_error(NULL, AIMC_ERR_OUT_OF_MEMORY, "out of host memory for the context");
  }
  c->env.simd = aimc_cpu_simd();
  const char *budget = getenv("AIMC_CPU_TRAIN_BUDGET"); /* the tests shrink it */
  long long v = budget ? atoll(budget) : 0;
  c->env.train_budget = v > 0 ? (size_t)v : (size_t)TRAIN_BUDGET_BYTES;
  const char *dense = getenv("AIMC_CPU_UPDATE_DENSE");
  c->env.skip_empty_rows = !(dense && dense[0] == '1');
  atomic_init(&c->spare, a);
  ctx->backend_data = c;
  return AIMC_OK;
}

static void arena_free(aimc_cpu_arena_t *a) {
  if (!a) return;
  free(a->base);
  free(a);
}

static void cpu_shutdown(aimc_context_t *ctx) {
  cpu_ctx_t *c = ctx->backend_data;
  if (!c) return;
  arena_free(atomic_load(&c->spare));
  free(c);
  ctx->backend_data = NULL;
}

const aimc_cpu_env_t *aimc_cpu_env(const aimc_context_t *ctx) {
  return &((const cpu_ctx_t *)ctx->backend_data)->env;
}

aimc_cpu_arena_t *aimc_cpu_arena_take(aimc_context_t *ctx) {
  cpu_ctx_t *c = ctx->backend_data;
  aimc_cpu_arena_t *a = atomic_exchange(&c->spare, NULL);
  return a ? a : calloc(1, sizeof *a);
}

void aimc_cpu_arena_give(aimc_context_t *ctx, aimc_cpu_arena_t *a) {
  cpu_ctx_t *c = ctx->backend_data;
  aimc_cpu_arena_t *none = NULL;
  if (!atomic_compare_exchange_strong(&c->spare, &none, a)) arena_free(a);
}

int aimc_cpu_arena_begin(aimc_cpu_arena_t *a, size_t bytes) {
  a->used = 0;
  if (bytes <= a->cap) return 1;
  size_t rounded = (bytes + 63u) & ~(size_t)63u; /* aligned_alloc wants a multiple */
  free(a->base); /* nothing to keep: a pass starts afresh */
  a->base = rounded >= bytes ? aligned_alloc(64, rounded) : NULL;
  a->cap = a->base ? rounded : 0;
  return a->base != NULL;
}

void *aimc_cpu_carve(aimc_cpu_arena_t *a, size_t bytes) {
  size_t start = a->used, rounded = (bytes + 63u) & ~(size_t)63u;
  a->used += rounded;
  return a->base && a->used <= a->cap ? a->base + start : NULL;
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
    .init = cpu_init,
    .shutdown = cpu_shutdown,
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
