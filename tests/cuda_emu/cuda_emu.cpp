/* The CPU emulation of the CUDA runtime (see cuda_runtime.h beside this). */
#include "cuda_runtime.h"

#include <pthread.h>

#include <cstdio>
#include <cstdlib>
#include <new>
#include <vector>

thread_local aimc_emu_uint3 threadIdx, blockIdx;
aimc_emu_uint3 blockDim, gridDim;

static thread_local cudaError_t last_error = cudaSuccess;

/* Device memory: host memory, with a budget so that out-of-memory paths can
 * be exercised (AIMC_EMU_MEMORY bytes, default 8 GiB). */
static size_t budget(void) {
  const char *e = getenv("AIMC_EMU_MEMORY");
  long long v = e ? atoll(e) : 0;
  return v > 0 ? (size_t)v : ((size_t)8 << 30);
}
static size_t in_use = 0;
static pthread_mutex_t mem_lock = PTHREAD_MUTEX_INITIALIZER;

static cudaError_t fail(cudaError_t e) {
  last_error = e;
  return e;
}

cudaError_t cudaGetDeviceCount(int *count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : fail(cudaErrorInvalidValue); }
cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr, int) {
  *value = 2; /* two "multiprocessors": grids stay small and grid-stride loops loop */
  return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned) {
  *stream = reinterpret_cast<cudaStream_t>(new char[1]);
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  delete[] reinterpret_cast<char *>(stream);
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t, unsigned) { return cudaSuccess; }
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned) {
  *event = reinterpret_cast<cudaEvent_t>(new char[1]);
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t) { return cudaSuccess; }
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  delete[] reinterpret_cast<char *>(event);
  return cudaSuccess;
}

/* Each allocation keeps its size in front of it. */
cudaError_t cudaMalloc(void **ptr, size_t bytes) {
  pthread_mutex_lock(&mem_lock);
  bool fits = bytes <= budget() - in_use && bytes < budget();
  if (fits) in_use += bytes;
  pthread_mutex_unlock(&mem_lock);
  char *p = fits ? static_cast<char *>(malloc(bytes + 64)) : nullptr;
  if (!p) {
    if (fits) {
      pthread_mutex_lock(&mem_lock);
      in_use -= bytes;
      pthread_mutex_unlock(&mem_lock);
    }
    *ptr = nullptr;
    return fail(cudaErrorMemoryAllocation);
  }
  memcpy(p, &bytes, sizeof bytes);
  memset(p + 64, 0xA5, bytes); /* device memory starts as garbage, not zeros */
  *ptr = p + 64;
  return cudaSuccess;
}
cudaError_t cudaFree(void *ptr) {
  if (!ptr) return cudaSuccess;
  char *p = static_cast<char *>(ptr) - 64;
  size_t bytes;
  memcpy(&bytes, p, sizeof bytes);
  pthread_mutex_lock(&mem_lock);
  in_use -= bytes;
  pthread_mutex_unlock(&mem_lock);
  free(p);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind,
                            cudaStream_t) {
  if (bytes) memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void *ptr, int value, size_t bytes, cudaStream_t) {
  memset(ptr, value, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes) {
  *total_bytes = budget();
  *free_bytes = budget() - in_use;
  return cudaSuccess;
}
cudaError_t cudaGetLastError(void) {
  cudaError_t e = last_error;
  last_error = cudaSuccess;
  return e;
}
const char *cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
  }
  return "cudaErrorUnknown";
}
const char *cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
  }
  return "unknown error";
}

/* ---- Blocks as threads ---------------------------------------------------------- */

namespace {

struct launch {
  unsigned grid, block;
  void (*body)(void *);
  void *arg;
  pthread_barrier_t block_barrier;
  std::vector<pthread_barrier_t> warp_barriers;
  std::vector<uint64_t> lanes;     /* [block]: shuffle exchange */
  std::vector<int> predicates;     /* [block]: __syncthreads_or/and */
  std::vector<unsigned char> smem; /* dynamic shared memory */
};

launch *current = nullptr;

struct thread_arg {
  launch *l;
  unsigned tid;
};

void *thread_main(void *p) {
  thread_arg *a = static_cast<thread_arg *>(p);
  launch *l = a->l;
  threadIdx = {a->tid, 0, 0};
  for (unsigned b = 0; b < l->grid; ++b) {
    blockIdx = {b, 0, 0};
    l->body(l->arg);
    pthread_barrier_wait(&l->block_barrier); /* the block is done before the next */
  }
  return nullptr;
}

}  // namespace

void __syncthreads(void) { pthread_barrier_wait(&current->block_barrier); }

static int block_vote(int predicate, bool any) {
  current->predicates[threadIdx.x] = predicate != 0;
  __syncthreads();
  int r = any ? 0 : 1;
  for (unsigned t = 0; t < current->block; ++t)
    r = any ? (r | current->predicates[t]) : (r & current->predicates[t]);
  __syncthreads();
  return r;
}
int __syncthreads_or(int predicate) { return block_vote(predicate, true); }
int __syncthreads_and(int predicate) { return block_vote(predicate, false); }

unsigned long long atomicAdd(unsigned long long *address, unsigned long long value) {
  return __atomic_fetch_add(address, value, __ATOMIC_RELAXED);
}

uint64_t aimc_emu_exchange(uint64_t bits, unsigned src) {
  unsigned warp = threadIdx.x / 32u;
  pthread_barrier_t *b = &current->warp_barriers[warp];
  current->lanes[threadIdx.x] = bits;
  pthread_barrier_wait(b);
  uint64_t r = current->lanes[warp * 32u + src];
  pthread_barrier_wait(b);
  return r;
}

void *aimc_emu_dynamic_shared(void) { return current->smem.data(); }

void aimc_emu_run(unsigned grid, unsigned block, size_t smem, void (*body)(void *), void *arg) {
  /* what a GPU refuses: empty grids, over 1024 threads, over 48 KiB of
     dynamic shared memory without opting in; shuffles need whole warps */
  if (grid == 0 || block == 0 || block > 1024 || block % 32u != 0 || smem > 48u * 1024u) {
    fprintf(stderr, "aimc cuda emulation: refused launch of %u blocks x %u threads, %zu bytes\n",
            grid, block, smem);
    last_error = cudaErrorInvalidConfiguration;
    return;
  }
  launch l;
  l.grid = grid;
  l.block = block;
  l.body = body;
  l.arg = arg;
  pthread_barrier_init(&l.block_barrier, nullptr, block);
  l.warp_barriers.resize(block / 32u);
  for (auto &w : l.warp_barriers) pthread_barrier_init(&w, nullptr, 32);
  l.lanes.assign(block, 0);
  l.predicates.assign(block, 0);
  l.smem.assign(smem, 0xA5);
  current = &l;
  blockDim = {block, 1, 1};
  gridDim = {grid, 1, 1};
  std::vector<pthread_t> threads(block);
  std::vector<thread_arg> args(block);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, (size_t)1 << 20);
  for (unsigned t = 0; t < block; ++t) {
    args[t] = {&l, t};
    if (pthread_create(&threads[t], &attr, thread_main, &args[t]) != 0) {
      fprintf(stderr, "aimc cuda emulation: cannot start thread %u\n", t);
      abort();
    }
  }
  for (unsigned t = 0; t < block; ++t) pthread_join(threads[t], nullptr);
  pthread_attr_destroy(&attr);
  for (auto &w : l.warp_barriers) pthread_barrier_destroy(&w);
  pthread_barrier_destroy(&l.block_barrier);
  current = nullptr;
}
