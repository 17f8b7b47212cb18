/* A CPU emulation of the part of the CUDA runtime and device language the
 * aimc CUDA backend uses, so kernels/cuda/ can be compiled as C++ and run on
 * machines without a GPU: every block of a launch runs on blockDim real
 * threads (one per CUDA thread, blocks one after another), with
 * __syncthreads as a barrier of the block, warp shuffles through a per-warp
 * exchange with a barrier of the warp, __shared__ variables as statics (one
 * block at a time), device memory as host memory and streams executing at
 * once. Test builds put this folder first on the include path in place of
 * the toolkit's header (CMake option AIMC_CUDA_EMULATION).
 *
 * What it checks: the kernels' arithmetic, indexing, launch geometry and
 * synchronisation logic against the CPU backend (a missing barrier shows up
 * as a wrong result or, under ThreadSanitizer, a race; a shuffle or barrier
 * not reached by every thread hangs and times out; ASan sees out-of-bounds
 * accesses). What it cannot: the device's own code paths (cuRAND's Philox,
 * __popc and the float intrinsics, which the CUDA suites check on a GPU),
 * memory-model subtleties, timing. */
#ifndef AIMC_CUDA_EMU_RUNTIME_H
#define AIMC_CUDA_EMU_RUNTIME_H

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <utility>

#define AIMC_CUDA_EMULATION 1

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...) /* register budgets mean nothing on the CPU */
#define __shared__ static /* one block runs at a time */

/* ---- Runtime API -------------------------------------------------------------- */

typedef enum cudaError {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9
} cudaError_t;
typedef enum cudaMemcpyKind {
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3
} cudaMemcpyKind;
typedef enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount = 16 } cudaDeviceAttr;
typedef struct aimc_emu_stream *cudaStream_t;
typedef struct aimc_emu_event *cudaEvent_t;
#define cudaStreamNonBlocking 0x01
#define cudaEventDisableTiming 0x02

cudaError_t cudaGetDeviceCount(int *count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned flags);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned flags);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaMalloc(void **ptr, size_t bytes);
cudaError_t cudaFree(void *ptr);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream);
cudaError_t cudaMemsetAsync(void *ptr, int value, size_t bytes, cudaStream_t stream);
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes);
cudaError_t cudaGetLastError(void);
const char *cudaGetErrorName(cudaError_t e);
const char *cudaGetErrorString(cudaError_t e);

/* ---- Device language ---------------------------------------------------------- */

struct aimc_emu_uint3 {
  unsigned x, y, z;
};
extern thread_local aimc_emu_uint3 threadIdx, blockIdx;
extern aimc_emu_uint3 blockDim, gridDim; /* of the launch running */

void __syncthreads(void);
int __syncthreads_or(int predicate);
int __syncthreads_and(int predicate);
unsigned long long atomicAdd(unsigned long long *address, unsigned long long value);

/* The value of lane `src` of this thread's warp (all 32 lanes take part). */
uint64_t aimc_emu_exchange(uint64_t bits, unsigned src);

template <typename T>
static inline T aimc_emu_shfl(T v, unsigned src) {
  static_assert(sizeof(T) <= 8, "shuffles of at most 64 bits");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof v);
  bits = aimc_emu_exchange(bits, src);
  T r;
  std::memcpy(&r, &bits, sizeof r);
  return r;
}
template <typename T>
static inline T __shfl_xor_sync(unsigned, T v, int lane_mask) {
  return aimc_emu_shfl(v, (threadIdx.x & 31u) ^ (unsigned)lane_mask);
}
template <typename T>
static inline T __shfl_down_sync(unsigned, T v, unsigned delta) {
  unsigned lane = threadIdx.x & 31u; /* lanes past the warp keep their own value */
  return aimc_emu_shfl(v, lane + delta < 32u ? lane + delta : lane);
}

/* ---- Launches ----------------------------------------------------------------- */

void *aimc_emu_dynamic_shared(void);
#define AIMC_DYNAMIC_SHARED(type, name) type *name = (type *)aimc_emu_dynamic_shared()

/* Runs body() as every thread of every block; sets the launch error when
 * the configuration is one CUDA would refuse. */
void aimc_emu_run(unsigned grid, unsigned block, size_t smem, void (*body)(void *), void *arg);

template <typename... P>
struct aimc_emu_launcher {
  void (*kernel)(P...);
  unsigned grid, block;
  size_t smem;
  template <typename... A>
  void operator()(A &&...args) const {
    struct call {
      void (*kernel)(P...);
      std::tuple<P...> params; /* each thread gets its own copy, like kernel parameters */
      static void run(void *self) {
        call *c = static_cast<call *>(self);
        std::tuple<P...> mine = c->params;
        std::apply(c->kernel, mine);
      }
    } c{kernel, std::tuple<P...>(std::forward<A>(args)...)};
    aimc_emu_run(grid, block, smem, &call::run, &c);
  }
};
template <typename... P>
static inline aimc_emu_launcher<P...> aimc_emu_launch(void (*kernel)(P...), unsigned grid,
                                                      unsigned block, size_t smem) {
  return aimc_emu_launcher<P...>{kernel, grid, block, smem};
}
#define AIMC_LAUNCH(kernel, grid, block, smem, stream) \
  ((void)(stream), aimc_emu_launch(kernel, (unsigned)(grid), (unsigned)(block), (size_t)(smem)))

#endif
