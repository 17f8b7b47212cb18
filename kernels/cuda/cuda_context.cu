/* CUDA backend: device, streams, memory, errors and the workspace. */
#include <stdio.h>
#include <stdlib.h>

#include "kernels/cuda/cuda_common.cuh"

extern "C" int aimc_cuda_device_count(void) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError(); /* no driver or no device: clear the error */
    return 0;
  }
  return n;
}

aimc_status_t aimc_cuda_fail(aimc_context_t *ctx, cudaError_t e, const char *what) {
  if (e == cudaErrorMemoryAllocation) {
    size_t free_b = 0, total_b = 0;
    (void)cudaGetLastError();
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) (void)cudaGetLastError();
    return aimc_error(ctx, AIMC_ERR_OUT_OF_MEMORY,
                      "out of GPU memory for %s (%.3g GiB of %.3g GiB free on device %d)", what,
                      (double)free_b / 1073741824.0, (double)total_b / 1073741824.0,
                      ctx ? ctx->cuda_device : -1);
  }
  return aimc_error(ctx, AIMC_ERR_BACKEND, "CUDA error in %s: %s (%s)", what, cudaGetErrorName(e),
                    cudaGetErrorString(e));
}

aimc_status_t aimc_cuda_begin(aimc_context_t *ctx) {
  cudaError_t e = cudaSetDevice(aimc_cu(ctx)->device);
  return e == cudaSuccess ? AIMC_OK : aimc_cuda_fail(ctx, e, "cudaSetDevice");
}

aimc_status_t aimc_cuda_launched(aimc_context_t *ctx, const char *kernel) {
  cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? AIMC_OK : aimc_cuda_fail(ctx, e, kernel);
}

aimc_status_t aimc_cuda_workspace(aimc_context_t *ctx, size_t bytes, void **out) {
  aimc_cuda_ctx_t *c = aimc_cu(ctx);
  if (bytes <= c->work_bytes) {
    *out = c->work;
    return AIMC_OK;
  }
  /* cudaFree waits for the kernels still reading the old workspace */
  if (c->work && cudaFree(c->work) != cudaSuccess) (void)cudaGetLastError();
  c->work = NULL;
  c->work_bytes = 0;
  size_t grown = bytes + bytes / 4; /* some headroom against regrowing by a little */
  cudaError_t e = cudaMalloc(&c->work, grown);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    e = cudaMalloc(&c->work, grown = bytes);
  }
  if (e != cudaSuccess) {
    c->work = NULL;
    char what[96];
    snprintf(what, sizeof what, "a workspace of %zu bytes", bytes);
    return aimc_cuda_fail(ctx, e, what);
  }
  c->work_bytes = grown;
  *out = c->work;
  return AIMC_OK;
}

aimc_status_t aimc_cuda_init(aimc_context_t *ctx) {
  aimc_cuda_ctx_t *c = (aimc_cuda_ctx_t *)calloc(1, sizeof *c);
  if (!c) return aimc_error(NULL, AIMC_ERR_OUT_OF_MEMORY, "out of host memory for the context");
  c->device = ctx->cuda_device;
  cudaError_t e = cudaSetDevice(c->device);
  if (e == cudaSuccess)
    e = cudaDeviceGetAttribute(&c->sm_count, cudaDevAttrMultiProcessorCount, c->device);
  if (e == cudaSuccess) e = cudaStreamCreateWithFlags(&c->own, cudaStreamNonBlocking);
  if (e != cudaSuccess) {
    free(c);
    return aimc_cuda_fail(NULL, e, "creating the CUDA context");
  }
  c->stream = c->own;
  ctx->backend_data = c;
  return AIMC_OK;
}

void aimc_cuda_shutdown(aimc_context_t *ctx) {
  aimc_cuda_ctx_t *c = aimc_cu(ctx);
  if (!c) return;
  if (cudaSetDevice(c->device) == cudaSuccess) {
    (void)cudaStreamSynchronize(c->stream);
    aimc_cuda_fast_read_release(c);
    if (c->work) (void)cudaFree(c->work);
    (void)cudaStreamDestroy(c->own);
  }
  (void)cudaGetLastError();
  free(c);
  ctx->backend_data = NULL;
}

aimc_status_t aimc_cuda_alloc(aimc_context_t *ctx, void **ptr, size_t bytes) {
  aimc_status_t s = aimc_cuda_begin(ctx);
  if (s != AIMC_OK) return s;
  cudaError_t e = cudaMalloc(ptr, bytes);
  if (e == cudaSuccess) return AIMC_OK;
  *ptr = NULL;
  char what[64];
  snprintf(what, sizeof what, "%zu bytes", bytes);
  return aimc_cuda_fail(ctx, e, what);
}

void aimc_cuda_release(aimc_context_t *ctx, void *ptr) {
  if (aimc_cuda_begin(ctx) != AIMC_OK) return;
  if (cudaFree(ptr) != cudaSuccess) (void)cudaGetLastError();
}

aimc_status_t aimc_cuda_copy(aimc_context_t *ctx, void *dst, const void *src, size_t bytes,
                             aimc_copy_kind_t kind) {
  aimc_status_t s = aimc_cuda_begin(ctx);
  if (s != AIMC_OK || dst == src) return s;
  static const cudaMemcpyKind kinds[3] = {cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost,
                                          cudaMemcpyDeviceToDevice};
  static const char *names[3] = {"a host-to-GPU copy", "a GPU-to-host copy", "a GPU copy"};
  cudaStream_t st = aimc_stream(ctx);
  cudaError_t e = cudaMemcpyAsync(dst, src, bytes, kinds[kind], st);
  /* host memory may change or go away when the call returns: wait for it */
  if (e == cudaSuccess && kind != AIMC_COPY_CONTEXT_TO_CONTEXT) e = cudaStreamSynchronize(st);
  return e == cudaSuccess ? AIMC_OK : aimc_cuda_fail(ctx, e, names[kind]);
}

aimc_status_t aimc_cuda_zero(aimc_context_t *ctx, void *ptr, size_t bytes) {
  aimc_status_t s = aimc_cuda_begin(ctx);
  if (s != AIMC_OK) return s;
  cudaError_t e = cudaMemsetAsync(ptr, 0, bytes, aimc_stream(ctx));
  return e == cudaSuccess ? AIMC_OK : aimc_cuda_fail(ctx, e, "cudaMemsetAsync");
}

aimc_status_t aimc_cuda_synchronize(aimc_context_t *ctx) {
  aimc_status_t s = aimc_cuda_begin(ctx);
  if (s != AIMC_OK) return s;
  cudaError_t e = cudaStreamSynchronize(aimc_stream(ctx));
  return e == cudaSuccess ? AIMC_OK : aimc_cuda_fail(ctx, e, "the queued operations");
}

aimc_status_t aimc_cuda_set_stream(aimc_context_t *ctx, void *stream) {
  aimc_cuda_ctx_t *c = aimc_cu(ctx);
  aimc_status_t s = aimc_cuda_begin(ctx);
  if (s != AIMC_OK) return s;
  cudaStream_t next = stream ? (cudaStream_t)stream : c->own;
  if (next == c->stream) return AIMC_OK;
  /* the workspace may still be read on the old stream: order the new one after it */
  cudaEvent_t done;
  cudaError_t e = cudaEventCreateWithFlags(&done, cudaEventDisableTiming);
  if (e == cudaSuccess) e = cudaEventRecord(done, c->stream);
  if (e == cudaSuccess) e = cudaStreamWaitEvent(next, done, 0);
  if (e == cudaSuccess) e = cudaEventDestroy(done);
  if (e != cudaSuccess) return aimc_cuda_fail(ctx, e, "switching streams");
  c->stream = next;
  return AIMC_OK;
}

void *aimc_cuda_get_stream(const aimc_context_t *ctx) { return (void *)aimc_cu(ctx)->stream; }
