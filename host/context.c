/* Context, errors, version and memory helpers. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/internal.h"

static _Thread_local char thread_error[AIMC_ERROR_LEN];

aimc_status_t aimc_error(aimc_context_t *ctx, aimc_status_t status, const char *fmt, ...) {
  char msg[AIMC_ERROR_LEN]; /* arguments may point into the buffers written below */
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  memcpy(thread_error, msg, sizeof msg);
  if (ctx) memcpy(ctx->last_error, msg, sizeof msg);
  return status;
}

void aimc_clear_error(aimc_context_t *ctx) {
  thread_error[0] = '\0';
  if (ctx) ctx->last_error[0] = '\0';
}

const char *aimc_last_error(void) { return thread_error; }

const char *aimc_status_string(aimc_status_t status) {
  switch (status) {
    case AIMC_OK: return "AIMC_OK";
    case AIMC_ERR_INVALID_ARGUMENT: return "AIMC_ERR_INVALID_ARGUMENT";
    case AIMC_ERR_OUT_OF_MEMORY: return "AIMC_ERR_OUT_OF_MEMORY";
    case AIMC_ERR_UNSUPPORTED: return "AIMC_ERR_UNSUPPORTED";
    case AIMC_ERR_BACKEND: return "AIMC_ERR_BACKEND";
    case AIMC_ERR_IO: return "AIMC_ERR_IO";
    case AIMC_ERR_CORRUPT: return "AIMC_ERR_CORRUPT";
    case AIMC_ERR_NON_FINITE: return "AIMC_ERR_NON_FINITE";
  }
  return "AIMC_ERR_UNKNOWN_STATUS";
}

int aimc_version(void) { return AIMC_VERSION; }

#define AIMC_STR2(x) #x
#define AIMC_STR(x) AIMC_STR2(x)
const char *aimc_version_string(void) {
  return AIMC_STR(AIMC_VERSION_MAJOR) "." AIMC_STR(AIMC_VERSION_MINOR) "." AIMC_STR(
      AIMC_VERSION_PATCH);
}

size_t aimc_checked_count(int64_t a, int64_t b, int64_t c) {
  if (a <= 0 || b <= 0 || c <= 0) return 0;
  uint64_t n = (uint64_t)a;
  if ((uint64_t)b > UINT64_MAX / n) return 0;
  n *= (uint64_t)b;
  if ((uint64_t)c > UINT64_MAX / n) return 0;
  n *= (uint64_t)c;
  if (n > SIZE_MAX / 16) return 0;
  return (size_t)n;
}

int aimc_cuda_available(void) {
#if defined(AIMC_WITH_CUDA)
  return aimc_cuda_device_count() > 0;
#else
  return 0;
#endif
}

void aimc_context_desc_default(aimc_context_desc_t *desc) {
  if (!desc) return;
  memset(desc, 0, sizeof *desc);
  desc->backend = AIMC_BACKEND_AUTO;
  desc->seed = 0;
  desc->n_threads = 0;
  desc->cuda_device = 0;
}

static aimc_status_t pick_backend(const aimc_context_desc_t *desc, const aimc_backend_ops_t **ops,
                                  aimc_backend_t *kind) {
  switch (desc->backend) {
    case AIMC_BACKEND_CPU:
      *ops = &aimc_cpu_backend;
      *kind = AIMC_BACKEND_CPU;
      return AIMC_OK;
    case AIMC_BACKEND_AUTO:
#if defined(AIMC_WITH_CUDA)
      if (aimc_cuda_device_count() > desc->cuda_device) {
        *ops = &aimc_cuda_backend;
        *kind = AIMC_BACKEND_CUDA;
        return AIMC_OK;
      }
#endif
      *ops = &aimc_cpu_backend;
      *kind = AIMC_BACKEND_CPU;
      return AIMC_OK;
    case AIMC_BACKEND_CUDA:
#if defined(AIMC_WITH_CUDA)
      if (aimc_cuda_device_count() > desc->cuda_device) {
        *ops = &aimc_cuda_backend;
        *kind = AIMC_BACKEND_CUDA;
        return AIMC_OK;
      }
      return aimc_error(NULL, AIMC_ERR_UNSUPPORTED,
                        "desc->backend = AIMC_BACKEND_CUDA, but CUDA device %d is not present "
                        "(%d device(s) found)",
                        (int)desc->cuda_device, aimc_cuda_device_count());
#else
      return aimc_error(NULL, AIMC_ERR_UNSUPPORTED,
                        "desc->backend = AIMC_BACKEND_CUDA, but this build of aimc has no CUDA "
                        "backend (configure with -DAIMC_CUDA=ON where nvcc is installed)");
#endif
  }
  return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT,
                    "desc->backend = %d is not a backend (allowed: 0 AUTO, 1 CPU, 2 CUDA)",
                    (int)desc->backend);
}

aimc_status_t aimc_context_create(aimc_context_t **ctx, const aimc_context_desc_t *desc) {
  aimc_clear_error(NULL);
  if (!ctx) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "ctx (output pointer) is NULL");
  if (!desc) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "desc is NULL");
  if (desc->n_threads < 0 || desc->n_threads > 4096)
    return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT,
                      "desc->n_threads = %d is out of range [0, 4096] (0 = all cores)",
                      (int)desc->n_threads);
  if (desc->cuda_device < 0)
    return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT,
                      "desc->cuda_device = %d is out of range [0, number of GPUs)",
                      (int)desc->cuda_device);
  const aimc_backend_ops_t *ops = NULL;
  aimc_backend_t kind = AIMC_BACKEND_CPU;
  aimc_status_t s = pick_backend(desc, &ops, &kind);
  if (s != AIMC_OK) return s;
  aimc_context_t *c = calloc(1, sizeof *c);
  if (!c) return aimc_error(NULL, AIMC_ERR_OUT_OF_MEMORY, "out of host memory for the context");
  c->backend = kind;
  c->ops = ops;
  c->seed = desc->seed;
  c->n_threads = desc->n_threads;
  c->cuda_device = desc->cuda_device;
  if (ops->init && (s = ops->init(c)) != AIMC_OK) {
    free(c);
    return s;
  }
  *ctx = c;
  return AIMC_OK;
}

void aimc_context_destroy(aimc_context_t *ctx) {
  if (!ctx) return;
  if (ctx->ops->shutdown) ctx->ops->shutdown(ctx);
  free(ctx);
}

aimc_backend_t aimc_context_backend(const aimc_context_t *ctx) {
  return ctx ? ctx->backend : AIMC_BACKEND_AUTO;
}

const char *aimc_context_last_error(const aimc_context_t *ctx) {
  return ctx ? ctx->last_error : "ctx is NULL";
}

aimc_status_t aimc_context_synchronize(aimc_context_t *ctx) {
  if (!ctx) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "ctx is NULL");
  return ctx->ops->synchronize ? ctx->ops->synchronize(ctx) : AIMC_OK;
}

static aimc_status_t no_stream(const aimc_context_t *ctx) {
  return aimc_error((aimc_context_t *)ctx, AIMC_ERR_UNSUPPORTED,
                    "ctx is a %s context: streams belong to CUDA contexts", ctx->ops->name);
}

aimc_status_t aimc_context_set_cuda_stream(aimc_context_t *ctx, void *stream) {
  if (!ctx) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "ctx is NULL");
  if (!ctx->ops->set_stream) return no_stream(ctx);
  return ctx->ops->set_stream(ctx, stream);
}

aimc_status_t aimc_context_get_cuda_stream(const aimc_context_t *ctx, void **stream) {
  if (!ctx) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "ctx is NULL");
  if (!stream)
    return aimc_error((aimc_context_t *)ctx, AIMC_ERR_INVALID_ARGUMENT, "stream (output) is NULL");
  if (!ctx->ops->get_stream) return no_stream(ctx);
  *stream = ctx->ops->get_stream(ctx);
  return AIMC_OK;
}

/* ---- Read mode (exact or fast; see aimc.h) ---- */

aimc_status_t aimc_context_set_read_mode(aimc_context_t *ctx, aimc_read_mode_t mode) {
  if (!ctx) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "ctx is NULL");
  if ((int)mode < AIMC_READ_EXACT || (int)mode > AIMC_READ_FAST_TF32)
    return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT,
                      "mode = %d is out of range [%d (AIMC_READ_EXACT), %d (AIMC_READ_FAST_TF32)]",
                      (int)mode, AIMC_READ_EXACT, AIMC_READ_FAST_TF32);
  ctx->read_mode = (int32_t)mode;
  return AIMC_OK;
}

aimc_status_t aimc_context_get_read_mode(const aimc_context_t *ctx, aimc_read_mode_t *mode) {
  if (!ctx) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "ctx is NULL");
  if (!mode)
    return aimc_error((aimc_context_t *)ctx, AIMC_ERR_INVALID_ARGUMENT, "mode (output) is NULL");
  *mode = (aimc_read_mode_t)ctx->read_mode;
  return AIMC_OK;
}

aimc_status_t aimc_malloc(aimc_context_t *ctx, void **ptr, size_t bytes) {
  if (!ctx) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "ctx is NULL");
  if (!ptr) return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT, "ptr (output pointer) is NULL");
  if (bytes == 0)
    return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT, "bytes = 0 is out of range [1, SIZE_MAX]");
  return ctx->ops->alloc(ctx, ptr, bytes);
}

void aimc_free(aimc_context_t *ctx, void *ptr) {
  if (ctx && ptr) ctx->ops->release(ctx, ptr);
}

aimc_status_t aimc_memcpy(aimc_context_t *ctx, void *dst, const void *src, size_t bytes,
                          aimc_copy_kind_t kind) {
  if (!ctx) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "ctx is NULL");
  if (bytes == 0) return AIMC_OK;
  if (!dst || !src)
    return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT, "%s is NULL", dst ? "src" : "dst");
  if ((int)kind < 0 || (int)kind > 2)
    return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT,
                      "kind = %d is not a copy kind (allowed: 0 host->context, 1 context->host, "
                      "2 context->context)",
                      (int)kind);
  return ctx->ops->copy(ctx, dst, src, bytes, kind);
}
