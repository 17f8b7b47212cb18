/* aimc-gpucheck: the registry the CUDA agreement suites' tests land in when
 * they are compiled against the Criterion stand-in (shim/criterion/), and
 * the runner's entry points. No Criterion, no fork: tests run one after
 * another in this process, a failed assertion longjmps back to the runner. */
#ifndef AIMC_GPUCHECK_H
#define AIMC_GPUCHECK_H

#include <setjmp.h>

typedef struct gpucheck_test {
  const char *suite; /* the Test()'s first name: update, mvm, network, ... */
  const char *name;
  const char *file; /* which test_cuda_*.c it came from */
  void (*fn)(void);
  void (*init)(void);
  void (*fini)(void);
  int dummy; /* lets the registration macros end every initialiser list */
  struct gpucheck_test *next;
} gpucheck_test_t;

typedef struct gpucheck_suite {
  const char *name;
  void (*init)(void);
  void (*fini)(void);
  int dummy;
  struct gpucheck_suite *next;
} gpucheck_suite_t;

void gpucheck_register_test(gpucheck_test_t *t);
void gpucheck_register_suite(gpucheck_suite_t *s);

/* How an assertion or a skip leaves a test: longjmp to the runner's buffer. */
enum { GPUCHECK_FAILED = 1, GPUCHECK_SKIPPED = 2 };
_Noreturn void gpucheck_fail(const char *file, int line, const char *expr, const char *fmt, ...);
_Noreturn void gpucheck_skip(const char *fmt, ...);

#endif
