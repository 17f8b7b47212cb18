/* Helpers shared by the CUDA agreement suites (test_cuda_*.c): the same
 * operations on a CPU context and on a CUDA context with the same seeds and
 * inputs must give bit-identical results (memcmp of every float array,
 * equality of every statistic). No tolerances.
 *
 * Include this header first in a suite (it asks for POSIX, for fork()).
 *
 * Each suite has its own main(), cuda_suite_main(): before Criterion starts
 * (and forks its workers) a probe child decides whether a usable GPU exists,
 * so that the runner process itself never initialises CUDA. Without one the
 * suite prints "<name>: no CUDA device, skipped" and exits with 77, which
 * ctest reports as skipped (SKIP_RETURN_CODE 77).
 *
 * Environment:
 *   AIMC_CUDA_TEST_SMALL=1      skip the big-shape tests (slow under
 *                               compute-sanitizer and under the emulation).
 *   AIMC_CUDA_TEST_SANITIZER=1  also skip the out-of-memory test, whose
 *                               intended allocation failures compute-sanitizer
 *                               reports as errors.
 *
 * The same suites, linked against the CPU emulation of CUDA
 * (tests/cuda_emu/, test_cuda_*_emu), run the CUDA kernels without a GPU.
 *
 * Data pointers given to tile and network operations live in the context's
 * memory space (aimc_malloc + aimc_memcpy); per-tile arrays (statistics,
 * learning rates, configs, seeds, choppers), losses and evaluation counts are
 * host memory. The helpers below keep that straight. */
#ifndef AIMC_TESTS_CUDA_COMMON_H
#define AIMC_TESTS_CUDA_COMMON_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* fork, waitpid, mkdtemp */
#endif

#include <errno.h>
#include <stdarg.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

/* ---- Environment ----------------------------------------------------------------- */

static inline int cuda_env_flag(const char *name) {
  const char *v = getenv(name);
  return v && *v && strcmp(v, "0") != 0;
}

/* Skip big shapes; under compute-sanitizer, also the out-of-memory test. */
static inline int cuda_sanitizer_mode(void) { return cuda_env_flag("AIMC_CUDA_TEST_SANITIZER"); }
static inline int cuda_small_mode(void) {
  return cuda_sanitizer_mode() || cuda_env_flag("AIMC_CUDA_TEST_SMALL");
}

/* ---- The probe and main() ---------------------------------------------------------- */

enum { CUDA_PROBE_OK = 0, CUDA_PROBE_NO_DEVICE = 1, CUDA_PROBE_ERROR = 2 };

/* Runs in a child process only: it may initialise CUDA, the runner may not.
 * A CUDA context is what the tests need, so the probe creates one even when
 * aimc_cuda_available() says no: AIMC_ERR_UNSUPPORTED (no backend in this
 * build, or no device) means skip; any other failure on a machine that
 * reports a GPU is an error, and so is a context on one that reports none. */
static inline int cuda_probe_child(void) {
  int available = aimc_cuda_available();
  aimc_context_desc_t cd;
  aimc_context_desc_default(&cd);
  cd.backend = AIMC_BACKEND_CUDA;
  aimc_context_t *ctx = NULL;
  aimc_status_t s = aimc_context_create(&ctx, &cd);
  if (s == AIMC_OK) {
    aimc_context_destroy(ctx);
    if (available) return CUDA_PROBE_OK;
    fprintf(stderr, "CUDA probe: aimc_cuda_available() = 0, yet a CUDA context was created\n");
    return CUDA_PROBE_ERROR;
  }
  if (s == AIMC_ERR_UNSUPPORTED || !available) return CUDA_PROBE_NO_DEVICE;
  fprintf(stderr, "CUDA probe: aimc_cuda_available() = 1, but aimc_context_create"
                  "(AIMC_BACKEND_CUDA) -> %s: %s\n",
          aimc_status_string(s), aimc_last_error());
  return CUDA_PROBE_ERROR;
}

/* Whether a CUDA context can be created, decided in a child process.
 * Returns 1 (yes), 0 (no device or no backend), -1 (the probe failed). */
static inline int cuda_probe(const char *name) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "%s: fork() for the CUDA probe failed: %s\n", name, strerror(errno));
    return -1;
  }
  if (pid == 0) {
    int code = cuda_probe_child();
    fflush(stdout);
    fflush(stderr);
    exit(code);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      fprintf(stderr, "%s: waitpid() for the CUDA probe failed: %s\n", name, strerror(errno));
      return -1;
    }
  }
  if (!WIFEXITED(status)) {
    fprintf(stderr, "%s: the CUDA probe died (signal %d)\n", name,
            WIFSIGNALED(status) ? WTERMSIG(status) : -1);
    return -1;
  }
  switch (WEXITSTATUS(status)) {
    case CUDA_PROBE_OK: return 1;
    case CUDA_PROBE_NO_DEVICE: return 0;
    default:
      fprintf(stderr, "%s: the CUDA probe failed (exit code %d)\n", name, WEXITSTATUS(status));
      return -1;
  }
}

/* main() of a CUDA suite: 77 (skipped) without a usable GPU, else Criterion. */
static inline int cuda_suite_main(int argc, char *argv[], const char *name) {
  int have = cuda_probe(name);
  if (have < 0) return 1;
  if (have == 0) {
    printf("%s: no CUDA device, skipped\n", name);
    return 77;
  }
  fflush(stdout);
  struct criterion_test_set *tests = criterion_initialize();
  int result = 0;
  if (criterion_handle_args(argc, argv, true)) result = !criterion_run_all_tests(tests);
  criterion_finalize(tests);
  return result;
}

/* Defines the suite's main(). Criterion's workers re-execute the binary and
 * find main() through the dynamic symbol table to divert it; the project
 * builds with -fvisibility=hidden, so main() must be exported explicitly
 * (else a worker would run main() again and Criterion aborts). */
#define CUDA_SUITE_MAIN(name)                                                                   \
  __attribute__((visibility("default"))) int main(int argc, char *argv[]) {                    \
    return cuda_suite_main(argc, argv, name);                                                  \
  }

/* ---- A CPU and a CUDA context ----------------------------------------------------- */

typedef struct cuda_pair {
  aimc_context_t *cpu; /* the reference */
  aimc_context_t *dev; /* CUDA */
} cuda_pair_t;

static inline aimc_context_t *cuda_make_context(aimc_backend_t backend, int n_threads,
                                                uint64_t seed) {
  aimc_context_desc_t cd;
  aimc_context_desc_default(&cd);
  cd.backend = backend;
  cd.n_threads = n_threads;
  cd.seed = seed;
  aimc_context_t *ctx = NULL;
  CK(aimc_context_create(&ctx, &cd));
  cr_assert_eq(aimc_context_backend(ctx), backend);
  return ctx;
}

/* Both contexts with the same seed (the CPU's results do not depend on its
 * thread count: it uses all cores). */
static inline cuda_pair_t cuda_pair_create(uint64_t seed) {
  cuda_pair_t p;
  p.cpu = cuda_make_context(AIMC_BACKEND_CPU, 0, seed);
  p.dev = cuda_make_context(AIMC_BACKEND_CUDA, 0, seed);
  return p;
}

static inline void cuda_pair_destroy(cuda_pair_t *p) {
  aimc_context_destroy(p->dev);
  aimc_context_destroy(p->cpu);
  p->cpu = p->dev = NULL;
}

/* ---- Context memory ---------------------------------------------------------------- */

static inline void *ctx_alloc(aimc_context_t *ctx, size_t bytes) {
  void *p = NULL;
  CK(aimc_malloc(ctx, &p, bytes ? bytes : 1));
  cr_assert_not_null(p);
  return p;
}

/* A context buffer holding a copy of `bytes` bytes of host memory. */
static inline void *ctx_upload(aimc_context_t *ctx, const void *host, size_t bytes) {
  void *p = ctx_alloc(ctx, bytes);
  if (bytes) CK(aimc_memcpy(ctx, p, host, bytes, AIMC_COPY_HOST_TO_CONTEXT));
  return p;
}

static inline void ctx_download(aimc_context_t *ctx, void *host, const void *src, size_t bytes) {
  if (bytes) CK(aimc_memcpy(ctx, host, src, bytes, AIMC_COPY_CONTEXT_TO_HOST));
}

static inline void ctx_put(aimc_context_t *ctx, void *dst, const void *host, size_t bytes) {
  if (bytes) CK(aimc_memcpy(ctx, dst, host, bytes, AIMC_COPY_HOST_TO_CONTEXT));
}

/* A context buffer of n floats, every one set to a NaN sentinel, so that an
 * output a backend forgets to write shows up as a difference. */
static inline float *ctx_sentinel_floats(aimc_context_t *ctx, size_t n) {
  float *h = test_alloc(n ? n : 1);
  const uint32_t bits = 0x7fc0dead;
  for (size_t i = 0; i < n; ++i) memcpy(&h[i], &bits, sizeof bits);
  float *p = ctx_upload(ctx, h, n * sizeof(float));
  free(h);
  return p;
}

/* ---- Bit-identical comparisons ------------------------------------------------------- */

static inline uint32_t cuda_float_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

/* n floats, seen as [n / (n1 n2)][n1][n2] for the message (n1 = n2 = 1: flat). */
static inline void cuda_expect_floats(const char *what, const float *cpu, const float *dev,
                                      size_t n, size_t n1, size_t n2) {
  if (memcmp(cpu, dev, n * sizeof(float)) == 0) return;
  size_t first = n, count = 0;
  for (size_t i = 0; i < n; ++i)
    if (memcmp(&cpu[i], &dev[i], sizeof(float)) != 0) {
      if (first == n) first = i;
      count++;
    }
  if (n1 < 1) n1 = 1;
  if (n2 < 1) n2 = 1;
  cr_assert_fail("%s: %zu of %zu floats differ; first at index %zu = [%zu][%zu][%zu]: "
                 "cpu %.9g (0x%08x) vs cuda %.9g (0x%08x)",
                 what, count, n, first, first / (n1 * n2), (first / n2) % n1, first % n2,
                 (double)cpu[first], (unsigned)cuda_float_bits(cpu[first]), (double)dev[first],
                 (unsigned)cuda_float_bits(dev[first]));
}

static inline void cuda_expect_i8(const char *what, const int8_t *cpu, const int8_t *dev,
                                  size_t n, size_t row) {
  for (size_t i = 0; i < n; ++i)
    if (cpu[i] != dev[i]) {
      size_t count = 0;
      for (size_t k = i; k < n; ++k) count += cpu[k] != dev[k];
      cr_assert_fail("%s: %zu of %zu values differ; first at index %zu = [%zu][%zu]: cpu %d vs "
                     "cuda %d",
                     what, count, n, i, i / (row ? row : 1), i % (row ? row : 1), (int)cpu[i],
                     (int)dev[i]);
    }
}

static inline void cuda_expect_i64(const char *what, const int64_t *cpu, const int64_t *dev,
                                   size_t n) {
  for (size_t i = 0; i < n; ++i)
    cr_assert_eq(cpu[i], dev[i], "%s: index %zu of %zu: cpu %lld vs cuda %lld", what, i, n,
                 (long long)cpu[i], (long long)dev[i]);
}

static inline void cuda_expect_u64(const char *what, const uint64_t *cpu, const uint64_t *dev,
                                   size_t n) {
  for (size_t i = 0; i < n; ++i)
    cr_assert_eq(cpu[i], dev[i], "%s: index %zu of %zu: cpu %llu vs cuda %llu", what, i, n,
                 (unsigned long long)cpu[i], (unsigned long long)dev[i]);
}

/* Every counter of every tile, named in the message. */
static inline void cuda_expect_stats(const char *what, const aimc_tile_stats_t *cpu,
                                     const aimc_tile_stats_t *dev, int64_t n_tiles) {
  for (int64_t t = 0; t < n_tiles; ++t) {
    const aimc_tile_stats_t *a = &cpu[t], *b = &dev[t];
#define CUDA_STAT(f)                                                                           \
  cr_assert_eq(a->f, b->f, "%s: tile %lld stats." #f ": cpu %llu vs cuda %llu", what,         \
               (long long)t, (unsigned long long)a->f, (unsigned long long)b->f)
    CUDA_STAT(pulses_up);
    CUDA_STAT(pulses_down);
    for (int k = 0; k < AIMC_MAX_ARRAYS; ++k)
      cr_assert_eq(a->array_pulses[k], b->array_pulses[k],
                   "%s: tile %lld stats.array_pulses[%d]: cpu %llu vs cuda %llu", what,
                   (long long)t, k, (unsigned long long)a->array_pulses[k],
                   (unsigned long long)b->array_pulses[k]);
    CUDA_STAT(update_calls);
    CUDA_STAT(update_samples);
    CUDA_STAT(forward_passes);
    CUDA_STAT(forward_samples);
    CUDA_STAT(transfers);
    CUDA_STAT(chopper_flips);
    CUDA_STAT(digital_ops);
#undef CUDA_STAT
  }
}

/* "what" with printf arguments, into a caller's buffer. */
static inline const char *cuda_fmt(char *buf, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, len, fmt, ap);
  va_end(ap);
  return buf;
}

/* ---- A tile batch on both contexts -------------------------------------------------- */

typedef struct tile_pair {
  cuda_pair_t ctx;
  aimc_tiles_t *cpu, *dev;
  int64_t n_tiles;
  int32_t rows, cols, n_arrays;
  size_t nw;                  /* n_tiles * rows * cols */
  float *scr_cpu, *scr_dev;   /* context scratch of nw floats */
  float *h_cpu, *h_dev;       /* host copies */
} tile_pair_t;

/* The same descriptor on both contexts. The descriptor should carry an
 * explicit seed (or tile seeds); with AIMC_SEED_FROM_CONTEXT both contexts
 * must have created the same number of batches before. */
static inline void tp_create(tile_pair_t *tp, const cuda_pair_t *p, const aimc_tiles_desc_t *td) {
  memset(tp, 0, sizeof *tp);
  tp->ctx = *p;
  CK(aimc_tiles_create(p->cpu, td, &tp->cpu));
  CK(aimc_tiles_create(p->dev, td, &tp->dev));
  tp->n_tiles = td->n_tiles;
  tp->rows = td->rows;
  tp->cols = td->cols;
  int32_t a = 0, b = 0;
  CK(aimc_tiles_n_arrays(tp->cpu, &a));
  CK(aimc_tiles_n_arrays(tp->dev, &b));
  cr_assert_eq(a, b, "arrays per tile: cpu %d vs cuda %d", a, b);
  tp->n_arrays = a;
  tp->nw = (size_t)td->n_tiles * (size_t)td->rows * (size_t)td->cols;
  tp->scr_cpu = ctx_alloc(p->cpu, tp->nw * sizeof(float));
  tp->scr_dev = ctx_alloc(p->dev, tp->nw * sizeof(float));
  tp->h_cpu = test_alloc(tp->nw);
  tp->h_dev = test_alloc(tp->nw);
}

static inline void tp_destroy(tile_pair_t *tp) {
  aimc_free(tp->ctx.cpu, tp->scr_cpu);
  aimc_free(tp->ctx.dev, tp->scr_dev);
  free(tp->h_cpu);
  free(tp->h_dev);
  aimc_tiles_destroy(tp->cpu);
  aimc_tiles_destroy(tp->dev);
  memset(tp, 0, sizeof *tp);
}

/* Weights from host memory [n_tiles][rows][cols]: exact (set) or through
 * the devices (program). */
static inline void tp_write(tile_pair_t *tp, const float *w, int program) {
  float *wc = ctx_upload(tp->ctx.cpu, w, tp->nw * sizeof(float));
  float *wd = ctx_upload(tp->ctx.dev, w, tp->nw * sizeof(float));
  if (program) {
    CK(aimc_tiles_program_weights(tp->cpu, wc));
    CK(aimc_tiles_program_weights(tp->dev, wd));
  } else {
    CK(aimc_tiles_set_weights(tp->cpu, wc));
    CK(aimc_tiles_set_weights(tp->dev, wd));
  }
  aimc_free(tp->ctx.cpu, wc);
  aimc_free(tp->ctx.dev, wd);
}

/* Reads nw floats through `get` (into context scratch) on both sides; after
 * the call h_cpu and h_dev hold them. */
static inline void tp_fetch(tile_pair_t *tp, int kind, int32_t index) {
  for (int side = 0; side < 2; ++side) {
    aimc_tiles_t *t = side ? tp->dev : tp->cpu;
    aimc_context_t *c = side ? tp->ctx.dev : tp->ctx.cpu;
    float *scr = side ? tp->scr_dev : tp->scr_cpu, *h = side ? tp->h_dev : tp->h_cpu;
    switch (kind) {
      case 0: CK(aimc_tiles_get_weights(t, scr)); break;
      case 1: CK(aimc_tiles_get_device_param_ex(t, index >> 8, (aimc_device_param_t)(index & 255),
                                                scr));
        break;
      default: CK(aimc_tiles_get_buffer(t, (aimc_buffer_t)index, scr)); break;
    }
    ctx_download(c, h, scr, tp->nw * sizeof(float));
  }
}

static inline const char *cuda_param_name(int p) {
  static const char *names[AIMC_PARAM_COUNT] = {
      "HIDDEN_WEIGHT", "MIN_BOUND",   "MAX_BOUND",   "STEP_UP",       "STEP_DOWN",
      "SLOPE_UP",      "SLOPE_DOWN",  "GAMMA_UP",    "GAMMA_DOWN",    "REFERENCE",
      "DECAY_SCALE",   "DIFFUSION",   "RESET_BIAS",  "VISIBLE_WEIGHT"};
  return p >= 0 && p < AIMC_PARAM_COUNT ? names[p] : "?";
}

static inline void tp_expect_weights(tile_pair_t *tp, const char *what) {
  char m[512];
  tp_fetch(tp, 0, 0);
  cuda_expect_floats(cuda_fmt(m, sizeof m, "%s: weights", what), tp->h_cpu, tp->h_dev, tp->nw,
                     (size_t)tp->rows, (size_t)tp->cols);
}

static inline void tp_expect_param(tile_pair_t *tp, int32_t array, aimc_device_param_t which,
                                   const char *what) {
  char m[512];
  tp_fetch(tp, 1, (array << 8) | (int32_t)which);
  cuda_expect_floats(cuda_fmt(m, sizeof m, "%s: array %d %s", what, (int)array,
                              cuda_param_name((int)which)),
                     tp->h_cpu, tp->h_dev, tp->nw, (size_t)tp->rows, (size_t)tp->cols);
}

static inline void tp_expect_buffers(tile_pair_t *tp, const char *what) {
  static const char *names[AIMC_BUFFER_COUNT] = {"TRANSFER", "RUNNING_MEAN", "PAST_MEAN"};
  char m[512];
  for (int b = 0; b < AIMC_BUFFER_COUNT; ++b) {
    tp_fetch(tp, 2, b);
    cuda_expect_floats(cuda_fmt(m, sizeof m, "%s: buffer %s", what, names[b]), tp->h_cpu,
                       tp->h_dev, tp->nw, (size_t)tp->rows, (size_t)tp->cols);
  }
}

static inline void tp_expect_choppers(tile_pair_t *tp, const char *what) {
  size_t ni = (size_t)tp->n_tiles * (size_t)tp->cols, no = (size_t)tp->n_tiles * (size_t)tp->rows;
  int8_t *ic = malloc(ni), *id = malloc(ni), *oc = malloc(no), *od = malloc(no);
  cr_assert(ic && id && oc && od);
  CK(aimc_tiles_get_choppers(tp->cpu, ic, oc));
  CK(aimc_tiles_get_choppers(tp->dev, id, od));
  char m[512];
  cuda_expect_i8(cuda_fmt(m, sizeof m, "%s: input choppers", what), ic, id, ni, (size_t)tp->cols);
  cuda_expect_i8(cuda_fmt(m, sizeof m, "%s: output choppers", what), oc, od, no,
                 (size_t)tp->rows);
  free(ic), free(id), free(oc), free(od);
}

/* Statistics of both sides; copies the CPU's into cpu_out (n_tiles, may be NULL). */
static inline void tp_expect_stats(tile_pair_t *tp, const char *what, aimc_tile_stats_t *cpu_out) {
  aimc_tile_stats_t *a = calloc((size_t)tp->n_tiles, sizeof *a);
  aimc_tile_stats_t *b = calloc((size_t)tp->n_tiles, sizeof *b);
  cr_assert(a && b);
  CK(aimc_tiles_get_stats(tp->cpu, a));
  CK(aimc_tiles_get_stats(tp->dev, b));
  cuda_expect_stats(what, a, b, tp->n_tiles);
  if (cpu_out) memcpy(cpu_out, a, (size_t)tp->n_tiles * sizeof *a);
  free(a), free(b);
}

/* The sum of a counter over the CPU side's tiles (sanity checks that a test
 * exercised what it is about). */
static inline uint64_t tp_cpu_stat_sum(tile_pair_t *tp, size_t offset) {
  aimc_tile_stats_t *a = calloc((size_t)tp->n_tiles, sizeof *a);
  cr_assert_not_null(a);
  CK(aimc_tiles_get_stats(tp->cpu, a));
  uint64_t s = 0;
  for (int64_t t = 0; t < tp->n_tiles; ++t) {
    uint64_t v;
    memcpy(&v, (const char *)&a[t] + offset, sizeof v);
    s += v;
  }
  free(a);
  return s;
}
#define TP_STAT(tp, field) tp_cpu_stat_sum((tp), offsetof(aimc_tile_stats_t, field))

/* Visible weights, hidden and visible weights of every array, statistics. */
static inline void tp_expect_core(tile_pair_t *tp, const char *what) {
  tp_expect_weights(tp, what);
  for (int32_t a = 0; a < tp->n_arrays; ++a) {
    tp_expect_param(tp, a, AIMC_PARAM_HIDDEN_WEIGHT, what);
    tp_expect_param(tp, a, AIMC_PARAM_VISIBLE_WEIGHT, what);
  }
  tp_expect_stats(tp, what, NULL);
}

/* Everything observable: weights, every device parameter of every array,
 * the algorithm buffers, the choppers, the statistics. */
static inline void tp_expect_all(tile_pair_t *tp, const char *what) {
  tp_expect_weights(tp, what);
  for (int32_t a = 0; a < tp->n_arrays; ++a)
    for (int p = 0; p < AIMC_PARAM_COUNT; ++p) tp_expect_param(tp, a, (aimc_device_param_t)p, what);
  tp_expect_buffers(tp, what);
  tp_expect_choppers(tp, what);
  tp_expect_stats(tp, what, NULL);
}

/* Weights, hidden/visible weights of every array, buffers, choppers, stats:
 * the state an update changes (the drawn parameters do not change). */
static inline void tp_expect_state(tile_pair_t *tp, const char *what) {
  tp_expect_core(tp, what);
  tp_expect_buffers(tp, what);
  tp_expect_choppers(tp, what);
}

/* Floats an input of `width` values per sample occupies for all tiles with
 * the given tile stride (0: one shared block). */
static inline size_t tp_span(const tile_pair_t *tp, int64_t stride, int64_t batch, int64_t width) {
  if (stride == 0) return (size_t)(batch * width);
  return (size_t)((tp->n_tiles - 1) * stride + batch * width);
}

/* An analog read in direction dir on both sides: in (host) holds
 * tp_span(in_stride, batch, n_in) floats. The outputs [n_tiles][batch][n_out]
 * must be bit-identical; cpu_out (may be NULL) receives the CPU's. */
static inline void tp_mvm(tile_pair_t *tp, aimc_direction_t dir, const float *in,
                          int64_t in_tile_stride, int64_t batch, const char *what,
                          float *cpu_out) {
  int transposed = dir == AIMC_BACKWARD || dir == AIMC_TRANSFER_BACKWARD;
  int64_t n_in = transposed ? tp->rows : tp->cols, n_out = transposed ? tp->cols : tp->rows;
  size_t span = tp_span(tp, in_tile_stride, batch, n_in);
  size_t n = (size_t)(tp->n_tiles * batch * n_out);
  float *ic = ctx_upload(tp->ctx.cpu, in, span * sizeof(float));
  float *id = ctx_upload(tp->ctx.dev, in, span * sizeof(float));
  float *oc = ctx_sentinel_floats(tp->ctx.cpu, n), *od = ctx_sentinel_floats(tp->ctx.dev, n);
  int plain = in_tile_stride == batch * n_in;
  if (plain && dir == AIMC_FORWARD) {
    CK(aimc_tiles_forward(tp->cpu, ic, oc, batch));
    CK(aimc_tiles_forward(tp->dev, id, od, batch));
  } else if (plain && dir == AIMC_BACKWARD) {
    CK(aimc_tiles_backward(tp->cpu, ic, oc, batch));
    CK(aimc_tiles_backward(tp->dev, id, od, batch));
  } else {
    CK(aimc_tiles_mvm_ex(tp->cpu, dir, ic, in_tile_stride, oc, batch));
    CK(aimc_tiles_mvm_ex(tp->dev, dir, id, in_tile_stride, od, batch));
  }
  float *hc = test_alloc(n), *hd = test_alloc(n);
  ctx_download(tp->ctx.cpu, hc, oc, n * sizeof(float));
  ctx_download(tp->ctx.dev, hd, od, n * sizeof(float));
  char m[512];
  static const char *dirs[4] = {"forward", "backward", "transfer forward", "transfer backward"};
  cuda_expect_floats(cuda_fmt(m, sizeof m, "%s: %s output (in_tile_stride %lld, batch %lld)",
                              what, dirs[dir], (long long)in_tile_stride, (long long)batch),
                     hc, hd, n, (size_t)batch, (size_t)n_out);
  if (cpu_out) memcpy(cpu_out, hc, n * sizeof(float));
  free(hc), free(hd);
  aimc_free(tp->ctx.cpu, ic), aimc_free(tp->ctx.dev, id);
  aimc_free(tp->ctx.cpu, oc), aimc_free(tp->ctx.dev, od);
}

/* A pulsed update on both sides from host x (tp_span(x_stride, batch, cols)
 * floats), d (... rows) and optionally y (... rows, for gated updates).
 * Uses aimc_tiles_update when the strides are the plain ones and there is
 * no y, aimc_tiles_update_ex without y, aimc_tiles_update_gated with y. */
static inline void tp_update(tile_pair_t *tp, const float *x, int64_t x_stride, const float *d,
                             int64_t d_stride, const float *y, int64_t y_stride, int64_t batch) {
  size_t sx = tp_span(tp, x_stride, batch, tp->cols), sd = tp_span(tp, d_stride, batch, tp->rows);
  size_t sy = y ? tp_span(tp, y_stride, batch, tp->rows) : 0;
  float *xc = ctx_upload(tp->ctx.cpu, x, sx * sizeof(float));
  float *xd = ctx_upload(tp->ctx.dev, x, sx * sizeof(float));
  float *dc = ctx_upload(tp->ctx.cpu, d, sd * sizeof(float));
  float *dd = ctx_upload(tp->ctx.dev, d, sd * sizeof(float));
  float *yc = y ? ctx_upload(tp->ctx.cpu, y, sy * sizeof(float)) : NULL;
  float *yd = y ? ctx_upload(tp->ctx.dev, y, sy * sizeof(float)) : NULL;
  if (y) {
    CK(aimc_tiles_update_gated(tp->cpu, xc, x_stride, dc, d_stride, yc, y_stride, batch));
    CK(aimc_tiles_update_gated(tp->dev, xd, x_stride, dd, d_stride, yd, y_stride, batch));
  } else if (x_stride == batch * tp->cols && d_stride == batch * tp->rows) {
    CK(aimc_tiles_update(tp->cpu, xc, dc, batch));
    CK(aimc_tiles_update(tp->dev, xd, dd, batch));
  } else {
    CK(aimc_tiles_update_ex(tp->cpu, xc, x_stride, dc, d_stride, batch));
    CK(aimc_tiles_update_ex(tp->dev, xd, x_stride, dd, d_stride, batch));
  }
  aimc_free(tp->ctx.cpu, xc), aimc_free(tp->ctx.dev, xd);
  aimc_free(tp->ctx.cpu, dc), aimc_free(tp->ctx.dev, dd);
  if (y) aimc_free(tp->ctx.cpu, yc), aimc_free(tp->ctx.dev, yd);
}

/* Plain update: x [n_tiles][batch][cols], d [n_tiles][batch][rows] (host). */
static inline void tp_update_plain(tile_pair_t *tp, const float *x, const float *d,
                                   int64_t batch) {
  tp_update(tp, x, batch * tp->cols, d, batch * tp->rows, NULL, 0, batch);
}

static inline void tp_set_learning_rates(tile_pair_t *tp, const float *lr) {
  CK(aimc_tiles_set_learning_rates(tp->cpu, lr));
  CK(aimc_tiles_set_learning_rates(tp->dev, lr));
}

static inline void tp_decay(tile_pair_t *tp) {
  CK(aimc_tiles_decay(tp->cpu));
  CK(aimc_tiles_decay(tp->dev));
}

static inline void tp_reset_columns(tile_pair_t *tp, int32_t array, int32_t start, int32_t n,
                                    float prob) {
  CK(aimc_tiles_reset_columns_ex(tp->cpu, array, start, n, prob));
  CK(aimc_tiles_reset_columns_ex(tp->dev, array, start, n, prob));
}

/* Uniform test data with a fraction of exact zeros (every `zero_every`-th
 * value, 0 = none). */
static inline void cuda_fill(test_rng_t *r, float *v, size_t n, float lo, float hi,
                             size_t zero_every) {
  test_fill(r, v, n, lo, hi);
  if (zero_every)
    for (size_t i = 0; i < n; i += zero_every) v[i] = 0.0f;
}

#endif
