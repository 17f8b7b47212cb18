/* A stand-in for the part of Criterion's API that the CUDA agreement suites
 * (tests/test_cuda_*.c, tests/cuda_common.h, tests/common.h, tests/scratch.h)
 * use, so aimc-gpucheck compiles those very tests without Criterion: the GPU
 * machine has no Criterion and no way to install it. Put this folder first on
 * the include path. Each Test() registers itself from a constructor; the
 * assertions report through gpucheck_fail (gpucheck.h), which longjmps out.
 *
 * Every macro takes its arguments as one variadic list and appends a final
 * "" (or a designated initialiser), so that an assertion without a message
 * is no variadic macro called without variadic arguments (an ISO C warning,
 * an error under -Werror -Wpedantic). The trailing "" is one argument more
 * than the format names, which vsnprintf ignores. */
#ifndef AIMC_GPUCHECK_CRITERION_SHIM_H
#define AIMC_GPUCHECK_CRITERION_SHIM_H

#include <stdbool.h>
#include <string.h>

#include "gpucheck.h"

/* ---- Registration -------------------------------------------------------------- */

#define GPUCHECK_TEST_(s_, n_, ...)                                                          \
  static void gpucheck_fn_##s_##_##n_(void);                                                 \
  __attribute__((constructor)) static void gpucheck_reg_##s_##_##n_(void) {                  \
    static gpucheck_test_t t = {.suite = #s_, .name = #n_, .file = __FILE__,                 \
                                .fn = gpucheck_fn_##s_##_##n_, __VA_ARGS__};                 \
    gpucheck_register_test(&t);                                                              \
  }                                                                                          \
  static void gpucheck_fn_##s_##_##n_(void)
#define Test(...) GPUCHECK_TEST_(__VA_ARGS__, .dummy = 0)

#define GPUCHECK_SUITE_(s_, ...)                                                             \
  __attribute__((constructor)) static void gpucheck_suite_##s_(void) {                       \
    static gpucheck_suite_t s = {.name = #s_, __VA_ARGS__};                                  \
    gpucheck_register_suite(&s);                                                             \
  }                                                                                          \
  extern int gpucheck_suite_semicolon_ /* takes TestSuite(...)'s ';' */
#define TestSuite(...) GPUCHECK_SUITE_(__VA_ARGS__, .dummy = 0)

/* ---- Assertions ---------------------------------------------------------------- */

#define GPUCHECK_TRUE_(cond, ...)                                                            \
  do {                                                                                       \
    if (!(cond)) gpucheck_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                      \
  } while (0)
#define GPUCHECK_CMP_(op, a, b, ...)                                                         \
  do {                                                                                       \
    if (!((a)op(b))) gpucheck_fail(__FILE__, __LINE__, #a " " #op " " #b, __VA_ARGS__);      \
  } while (0)

#define cr_assert(...) GPUCHECK_TRUE_(__VA_ARGS__, "")
#define cr_assert_eq(...) GPUCHECK_CMP_(==, __VA_ARGS__, "")
#define cr_assert_neq(...) GPUCHECK_CMP_(!=, __VA_ARGS__, "")
#define cr_assert_gt(...) GPUCHECK_CMP_(>, __VA_ARGS__, "")
#define cr_assert_geq(...) GPUCHECK_CMP_(>=, __VA_ARGS__, "")
#define cr_assert_lt(...) GPUCHECK_CMP_(<, __VA_ARGS__, "")
#define cr_assert_leq(...) GPUCHECK_CMP_(<=, __VA_ARGS__, "")
#define GPUCHECK_NULL_(p, ...) GPUCHECK_TRUE_((p) == NULL, __VA_ARGS__)
#define GPUCHECK_NOT_NULL_(p, ...) GPUCHECK_TRUE_((p) != NULL, __VA_ARGS__)
#define cr_assert_null(...) GPUCHECK_NULL_(__VA_ARGS__, "")
#define cr_assert_not_null(...) GPUCHECK_NOT_NULL_(__VA_ARGS__, "")
#define GPUCHECK_STR_EQ_(a, b, ...) GPUCHECK_TRUE_(strcmp((a), (b)) == 0, __VA_ARGS__)
#define cr_assert_str_eq(...) GPUCHECK_STR_EQ_(__VA_ARGS__, "")
#define cr_assert_fail(...) gpucheck_fail(__FILE__, __LINE__, "cr_assert_fail", __VA_ARGS__)
#define cr_skip_test(...) gpucheck_skip(__VA_ARGS__)

/* ---- The runner calls of a suite's own main() ----------------------------------- */

/* Each suite's main() (CUDA_SUITE_MAIN) is compiled under another name
 * (-Dmain=..., tools/gpucheck/CMakeLists.txt) and never called; these keep it
 * compiling. The prototype keeps -Wmissing-prototypes quiet. */
struct criterion_test_set {
  int unused;
};
int main(int argc, char *argv[]);
static inline struct criterion_test_set *criterion_initialize(void) { return NULL; }
static inline int criterion_handle_args(int argc, char *argv[], bool handle_unknown) {
  (void)argc, (void)argv, (void)handle_unknown;
  return 0;
}
static inline int criterion_run_all_tests(struct criterion_test_set *set) {
  (void)set;
  return 0;
}
static inline void criterion_finalize(struct criterion_test_set *set) { (void)set; }

#endif
