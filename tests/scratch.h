/* A scratch directory per test, removed after it (failed tests included),
 * for the suites that write files. Define _POSIX_C_SOURCE 200809L (mkdtemp)
 * before any include. Use: TestSuite(name, .init = make_tmp_dir,
 * .fini = remove_tmp_dir), then paths under tmp_dir. */
#ifndef AIMC_TESTS_SCRATCH_H
#define AIMC_TESTS_SCRATCH_H

#include <dirent.h>
#include <unistd.h>

#include "common.h"

static char tmp_dir[64];

static inline void make_tmp_dir(void) {
  snprintf(tmp_dir, sizeof tmp_dir, "/tmp/aimc_test_XXXXXX");
  cr_assert_not_null(mkdtemp(tmp_dir), "mkdtemp failed");
}

/* The files, subdirectories and their files, the directory. */
static inline void remove_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)) != NULL) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      int n = snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
      if (n < 0 || n >= (int)sizeof p) continue; /* not ours: our names are short */
      if (unlink(p) != 0) remove_tree(p);
    }
    closedir(d);
  }
  rmdir(dir);
}

static inline void remove_tmp_dir(void) {
  if (tmp_dir[0]) remove_tree(tmp_dir);
  tmp_dir[0] = '\0';
}

#endif
