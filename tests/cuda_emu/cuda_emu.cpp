/* The CPU emulation of the CUDA runtime (see cuda_runtime.h beside this).
 *
 * The threads of a block are fibers on the calling thread (ucontext), run
 * round-robin: each runs until it reaches a barrier (__syncthreads, a vote,
 * a warp shuffle) or ends; a barrier opens when every thread it waits for
 * has arrived. The fibers are resumed in thread order on even launches and
 * in reverse order on odd ones, so code that reads shared data before the
 * barrier that should order it gets another thread's stale value one way
 * or the other. A barrier some threads never reach is reported and aborts. */
#include "cuda_runtime.h"

#include <sys/mman.h>
#include <ucontext.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define AIMC_EMU_ASAN 1
#endif

/* On x86-64 a fiber switch saves the callee-saved registers and swaps stack
 * pointers (no system call, unlike swapcontext, which saves the signal
 * mask); elsewhere ucontext does it. */
#if defined(__x86_64__) && defined(__linux__)
#define AIMC_EMU_FAST_SWITCH 1
extern "C" void aimc_emu_switch(void **save_sp, void *next_sp);
__asm__(
    ".text\n"
    ".globl aimc_emu_switch\n"
    ".type aimc_emu_switch,@function\n"
    "aimc_emu_switch:\n"
    "  pushq %rbp\n"
    "  pushq %rbx\n"
    "  pushq %r12\n"
    "  pushq %r13\n"
    "  pushq %r14\n"
    "  pushq %r15\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  popq %r15\n"
    "  popq %r14\n"
    "  popq %r13\n"
    "  popq %r12\n"
    "  popq %rbx\n"
    "  popq %rbp\n"
    "  ret\n"
    ".size aimc_emu_switch, .-aimc_emu_switch\n"
    ".section .note.GNU-stack,\"\",@progbits\n"
    ".text\n");
#else
#define AIMC_EMU_FAST_SWITCH 0
#endif

thread_local aimc_emu_uint3 threadIdx, blockIdx;
aimc_emu_uint3 blockDim, gridDim;

static cudaError_t last_error = cudaSuccess;

/* Device memory: host memory, with a budget so that out-of-memory paths can
 * be exercised (AIMC_EMU_MEMORY bytes, default 8 GiB). */
static size_t budget(void) {
  const char *e = getenv("AIMC_EMU_MEMORY");
  long long v = e ? atoll(e) : 0;
  return v > 0 ? (size_t)v : ((size_t)8 << 30);
}
static size_t in_use = 0;

static cudaError_t fail(cudaError_t e) {
  last_error = e;
  return e;
}

cudaError_t cudaGetDeviceCount(int *count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
  return device == 0 ? cudaSuccess : fail(cudaErrorInvalidValue);
}
cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr, int) {
  *value = 1; /* one "multiprocessor": grids stay small, so grid-stride loops loop */
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
  *ptr = nullptr;
  if (bytes >= budget() || bytes > budget() - in_use) return fail(cudaErrorMemoryAllocation);
  char *p = static_cast<char *>(malloc(bytes + 64));
  if (!p) return fail(cudaErrorMemoryAllocation);
  in_use += bytes;
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
  in_use -= bytes;
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

/* ---- Blocks as fibers ------------------------------------------------------------ */

namespace {

enum fiber_state { RUNNABLE, AT_BLOCK_BARRIER, AT_WARP_BARRIER, FINISHED };

struct fiber {
#if AIMC_EMU_FAST_SWITCH
  void *sp; /* saved stack pointer */
#else
  ucontext_t ctx;
#endif
  fiber_state state;
  unsigned tid;
};

const size_t STACK_BYTES = (size_t)1 << 20; /* virtual: pages are touched only when used */

struct launch {
  unsigned grid, block;
  void (*body)(void *);
  void *arg;
  std::vector<fiber> fibers;
#if AIMC_EMU_FAST_SWITCH
  void *scheduler_sp;
#else
  ucontext_t scheduler;
#endif
  unsigned running;
  /* barrier data, double-buffered by generation so a thread that passed a
     barrier cannot overwrite what a slower one still has to read */
  unsigned block_gen;
  std::vector<unsigned> warp_gen;
  std::vector<uint64_t> lanes[2];  /* [block]: shuffle exchange */
  std::vector<int> predicates[2];  /* [block]: votes */
  std::vector<unsigned char> smem; /* dynamic shared memory */
};

launch *current = nullptr;
unsigned long launches = 0;
std::vector<char *> stacks; /* reused by every launch */
#if defined(AIMC_EMU_ASAN)
void *scheduler_stack = nullptr;
size_t scheduler_stack_size = 0;
#endif

char *stack_of(unsigned t) {
  while (stacks.size() <= t) {
    void *s = mmap(nullptr, STACK_BYTES, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (s == MAP_FAILED) {
      fprintf(stderr, "aimc cuda emulation: no memory for a thread stack\n");
      abort();
    }
    stacks.push_back(static_cast<char *>(s));
  }
  return stacks[t];
}

/* Switches from the running fiber back to the scheduler. */
__attribute__((noinline)) void yield(fiber_state state) {
  fiber &f = current->fibers[current->running];
  f.state = state;
#if defined(AIMC_EMU_ASAN)
  void *fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, scheduler_stack, scheduler_stack_size);
#endif
#if AIMC_EMU_FAST_SWITCH
  aimc_emu_switch(&f.sp, current->scheduler_sp);
#else
  swapcontext(&f.ctx, &current->scheduler);
#endif
#if defined(AIMC_EMU_ASAN)
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
}

void fiber_main(void) {
#if defined(AIMC_EMU_ASAN)
  __sanitizer_finish_switch_fiber(nullptr, const_cast<const void **>(&scheduler_stack),
                                  &scheduler_stack_size);
#endif
  current->body(current->arg);
  fiber &f = current->fibers[current->running];
  f.state = FINISHED;
#if defined(AIMC_EMU_ASAN)
  __sanitizer_start_switch_fiber(nullptr, scheduler_stack, scheduler_stack_size);
#endif
#if AIMC_EMU_FAST_SWITCH
  void *dead;
  aimc_emu_switch(&dead, current->scheduler_sp); /* never returns */
#else
  setcontext(&current->scheduler); /* never returns */
#endif
  abort();
}

__attribute__((noinline)) void resume(unsigned t) {
  launch *l = current;
  l->running = t;
  threadIdx = {t, 0, 0};
#if defined(AIMC_EMU_ASAN)
  void *fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, stack_of(t), STACK_BYTES);
#endif
#if AIMC_EMU_FAST_SWITCH
  aimc_emu_switch(&l->scheduler_sp, l->fibers[t].sp);
#else
  swapcontext(&l->scheduler, &l->fibers[t].ctx);
#endif
#if defined(AIMC_EMU_ASAN)
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
}

[[noreturn]] void deadlock(const char *what) {
  fprintf(stderr,
          "aimc cuda emulation: block %u of a launch of %u x %u: %s (a barrier or shuffle "
          "that not every thread reaches)\n",
          blockIdx.x, current->grid, current->block, what);
  abort();
}

/* Thread t, ready to start the kernel (getcontext returns twice: apart). */
__attribute__((noinline)) void start_fiber(launch *l, unsigned t) {
  fiber &f = l->fibers[t];
#if AIMC_EMU_FAST_SWITCH
  /* the first switch pops six zero registers and "returns" into fiber_main
     with the stack aligned as after a call */
  uintptr_t top = ((uintptr_t)stack_of(t) + STACK_BYTES) & ~(uintptr_t)15;
#if defined(AIMC_EMU_ASAN)
  /* the last fiber on this stack never returned from fiber_main: its frame's
     redzones are still poisoned (the kernel's own frames all returned) */
  __asan_unpoison_memory_region((void *)(top - 65536), 65536);
#endif
  void **sp = (void **)(top - 16);
  sp[0] = (void *)&fiber_main;
  for (int k = 1; k <= 6; ++k) sp[-k] = nullptr;
  f.sp = sp - 6;
#else
  getcontext(&f.ctx);
  f.ctx.uc_stack.ss_sp = stack_of(t);
  f.ctx.uc_stack.ss_size = STACK_BYTES;
  f.ctx.uc_link = nullptr;
  makecontext(&f.ctx, fiber_main, 0);
#endif
  f.state = RUNNABLE;
  f.tid = t;
}

/* Runs one block to its end. */
void run_block(launch *l, unsigned b, bool reverse) {
  blockIdx = {b, 0, 0};
  for (unsigned t = 0; t < l->block; ++t) start_fiber(l, t);
  unsigned n = l->block, n_warps = n / 32u;
  for (;;) {
    for (unsigned q = 0; q < n; ++q) {
      unsigned t = reverse ? n - 1 - q : q;
      if (l->fibers[t].state == RUNNABLE) resume(t);
    }
    unsigned finished = 0, at_block = 0;
    for (unsigned t = 0; t < n; ++t) {
      finished += l->fibers[t].state == FINISHED;
      at_block += l->fibers[t].state == AT_BLOCK_BARRIER;
    }
    if (finished == n) return;
    bool released = false;
    if (at_block == n) {
      for (auto &f : l->fibers) f.state = RUNNABLE;
      l->block_gen++;
      released = true;
    }
    for (unsigned w = 0; w < n_warps; ++w) {
      bool all = true;
      for (unsigned t = w * 32u; t < w * 32u + 32u; ++t)
        all = all && l->fibers[t].state == AT_WARP_BARRIER;
      if (!all) continue;
      for (unsigned t = w * 32u; t < w * 32u + 32u; ++t) l->fibers[t].state = RUNNABLE;
      l->warp_gen[w]++;
      released = true;
    }
    if (!released) deadlock(finished ? "some threads ended while others wait at a barrier"
                                      : "threads wait at different barriers");
  }
}

}  // namespace

void __syncthreads(void) { yield(AT_BLOCK_BARRIER); }

static int block_vote(int predicate, bool any) {
  launch *l = current;
  std::vector<int> &slot = l->predicates[l->block_gen & 1u];
  slot[threadIdx.x] = predicate != 0;
  yield(AT_BLOCK_BARRIER);
  int r = any ? 0 : 1;
  for (unsigned t = 0; t < l->block; ++t) r = any ? (r | slot[t]) : (r & slot[t]);
  return r;
}
int __syncthreads_or(int predicate) { return block_vote(predicate, true); }
int __syncthreads_and(int predicate) { return block_vote(predicate, false); }

unsigned long long atomicAdd(unsigned long long *address, unsigned long long value) {
  unsigned long long old = *address;
  *address = old + value;
  return old;
}

uint64_t aimc_emu_exchange(uint64_t bits, unsigned src) {
  launch *l = current;
  unsigned warp = threadIdx.x / 32u;
  std::vector<uint64_t> &slot = l->lanes[l->warp_gen[warp] & 1u];
  slot[threadIdx.x] = bits;
  yield(AT_WARP_BARRIER);
  return slot[warp * 32u + src];
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
  if (current) {
    fprintf(stderr, "aimc cuda emulation: a launch from inside a kernel\n");
    abort();
  }
  launch l;
  l.grid = grid;
  l.block = block;
  l.body = body;
  l.arg = arg;
  l.fibers.resize(block);
  l.block_gen = 0;
  l.warp_gen.assign(block / 32u, 0);
  for (int k = 0; k < 2; ++k) {
    l.lanes[k].assign(block, 0);
    l.predicates[k].assign(block, 0);
  }
  l.smem.assign(smem, 0xA5);
  current = &l;
  blockDim = {block, 1, 1};
  gridDim = {grid, 1, 1};
  bool reverse = (launches++ & 1u) != 0;
  for (unsigned b = 0; b < grid; ++b) run_block(&l, b, reverse);
  current = nullptr;
}
