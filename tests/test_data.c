/* Data sets: the IDX loader (plain and gzip files, every malformed case
 * refused with a message naming the file and what was expected),
 * normalisation, the real Fashion-MNIST files when installed, and the
 * reproducible permutations used for shuffling. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "scratch.h"

TestSuite(idx, .init = make_tmp_dir, .fini = remove_tmp_dir);
TestSuite(normalize);
TestSuite(fashion_mnist);
TestSuite(permutation);

static const char *tmp_path(const char *name) {
  static char p[256];
  snprintf(p, sizeof p, "%s/%s", tmp_dir, name);
  return p;
}

static void write_plain(const char *path, const void *bytes, size_t n) {
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f, "cannot create %s", path);
  cr_assert_eq(n ? fwrite(bytes, 1, n, f) : 0, n);
  cr_assert_eq(fclose(f), 0);
}

static void write_gzip(const char *path, const void *bytes, size_t n) {
  gzFile g = gzopen(path, "wb9");
  cr_assert_not_null(g, "cannot create %s", path);
  if (n) cr_assert_eq(gzwrite(g, bytes, (unsigned)n), (int)n);
  cr_assert_eq(gzclose(g), Z_OK);
}

static size_t file_size(const char *path) {
  struct stat sb;
  cr_assert_eq(stat(path, &sb), 0);
  return (size_t)sb.st_size;
}

/* An IDX file of unsigned bytes: magic 00 00 08 nd, big-endian dims, data
 * (data bytes i = (7 i + 3) mod 256). Returns its length in buf. */
static size_t make_idx(uint8_t *buf, int nd, const uint32_t *dims, int64_t n_data) {
  size_t k = 0;
  buf[k++] = 0, buf[k++] = 0, buf[k++] = 0x08, buf[k++] = (uint8_t)nd;
  for (int d = 0; d < nd; ++d) {
    buf[k++] = (uint8_t)(dims[d] >> 24), buf[k++] = (uint8_t)(dims[d] >> 16);
    buf[k++] = (uint8_t)(dims[d] >> 8), buf[k++] = (uint8_t)dims[d];
  }
  for (int64_t i = 0; i < n_data; ++i) buf[k++] = (uint8_t)(7 * i + 3);
  return k;
}

/* The loader refuses the file with `status`; the message names the path
 * and contains `expect` (what was expected or found), and out is untouched. */
static void expect_refusal(const char *path, aimc_status_t status, const char *expect) {
  aimc_idx_t out;
  memset(&out, 0xAB, sizeof out);
  aimc_idx_t copy = out;
  aimc_status_t s = aimc_idx_load(path, &out);
  cr_assert_eq(s, status, "%s: got %s (%s), expected %s", path, aimc_status_string(s),
               aimc_last_error(), aimc_status_string(status));
  const char *msg = aimc_last_error();
  cr_assert(strstr(msg, path) != NULL, "message does not name the path: %s", msg);
  cr_assert(strstr(msg, expect) != NULL, "message lacks \"%s\": %s", expect, msg);
  cr_assert(memcmp(&out, &copy, sizeof out) == 0, "a failed load changed its output");
}

/* ---- Malformed files ------------------------------------------------------------------ */

Test(idx, missing_file) {
  expect_refusal(tmp_path("no-such-file.idx"), AIMC_ERR_IO, "expected an IDX file");
  cr_assert(strstr(aimc_last_error(), "No such file"), "%s", aimc_last_error());
}

Test(idx, empty_file) {
  write_plain(tmp_path("empty"), "", 0);
  expect_refusal(tmp_path("empty"), AIMC_ERR_CORRUPT, "shorter than the 4-byte IDX magic");
}

Test(idx, truncated_header) {
  uint8_t b[64];
  const uint32_t dims[3] = {2, 3, 4};
  size_t n = make_idx(b, 3, dims, 0);
  write_plain(tmp_path("magic-only"), b, 4); /* announces 3 dims, has none */
  expect_refusal(tmp_path("magic-only"), AIMC_ERR_CORRUPT,
                 "truncated in the dimensions of the IDX header");
  write_plain(tmp_path("partial-dims"), b, n - 3); /* 2 of 3 dims and a byte of the third */
  expect_refusal(tmp_path("partial-dims"), AIMC_ERR_CORRUPT,
                 "truncated in the dimensions of the IDX header");
  write_plain(tmp_path("two-bytes"), b, 2);
  expect_refusal(tmp_path("two-bytes"), AIMC_ERR_CORRUPT, "shorter than the 4-byte IDX magic");
}

Test(idx, wrong_magic) {
  uint8_t b[64];
  const uint32_t dims[1] = {4};
  size_t n = make_idx(b, 1, dims, 4);
  b[0] = 'P', b[1] = '5'; /* a PGM image, say */
  write_plain(tmp_path("pgm"), b, n);
  expect_refusal(tmp_path("pgm"), AIMC_ERR_CORRUPT, "not an IDX file: magic 50 35 08 01");
  cr_assert(strstr(aimc_last_error(), "expected 00 00 08 <dims>"), "%s", aimc_last_error());
  b[0] = 0, b[1] = 1; /* only the second byte */
  write_plain(tmp_path("second"), b, n);
  expect_refusal(tmp_path("second"), AIMC_ERR_CORRUPT, "expected 00 00 08 <dims>");
}

Test(idx, unsupported_type) {
  uint8_t b[64];
  const uint32_t dims[1] = {4};
  size_t n = make_idx(b, 1, dims, 4);
  const uint8_t types[4] = {0x09, 0x0B, 0x0C, 0x0D}; /* signed byte, short, int, float */
  for (int k = 0; k < 4; ++k) {
    b[2] = types[k];
    write_plain(tmp_path("typed"), b, n);
    char expect[96];
    snprintf(expect, sizeof expect, "IDX data type 0x%02x is not supported (expected 0x08",
             types[k]);
    expect_refusal(tmp_path("typed"), AIMC_ERR_CORRUPT, expect);
  }
}

Test(idx, dimension_count) {
  uint8_t b[64];
  const uint32_t dims[5] = {1, 1, 1, 1, 1};
  size_t n = make_idx(b, 0, dims, 1);
  write_plain(tmp_path("zero-dims"), b, n);
  expect_refusal(tmp_path("zero-dims"), AIMC_ERR_CORRUPT,
                 "IDX file with 0 dimensions (expected 1 to 4)");
  n = make_idx(b, 5, dims, 1);
  write_plain(tmp_path("five-dims"), b, n);
  expect_refusal(tmp_path("five-dims"), AIMC_ERR_CORRUPT,
                 "IDX file with 5 dimensions (expected 1 to 4)");
}

Test(idx, zero_or_huge_dimension) {
  uint8_t b[64];
  const uint32_t zero[3] = {3, 0, 2};
  size_t n = make_idx(b, 3, zero, 0);
  write_plain(tmp_path("zero"), b, n);
  expect_refusal(tmp_path("zero"), AIMC_ERR_CORRUPT, "IDX dimension 1 is 0 (expected 1 to 2^34");
  /* 2^31 x 2^31 elements: refused from the header, nothing allocated */
  const uint32_t huge[2] = {0x80000000u, 0x80000000u};
  n = make_idx(b, 2, huge, 0);
  write_plain(tmp_path("huge"), b, n);
  expect_refusal(tmp_path("huge"), AIMC_ERR_CORRUPT, "IDX dimension 1 is 2147483648");
}

Test(idx, truncated_data) {
  uint8_t b[64];
  const uint32_t dims[2] = {2, 5};
  size_t n = make_idx(b, 2, dims, 7); /* 7 of the 10 bytes */
  write_plain(tmp_path("short"), b, n);
  expect_refusal(tmp_path("short"), AIMC_ERR_CORRUPT,
                 "truncated: 7 of the 10 data bytes its header announces");
  write_gzip(tmp_path("short.gz"), b, n); /* a complete gzip stream of a short file */
  expect_refusal(tmp_path("short.gz"), AIMC_ERR_CORRUPT,
                 "truncated: 7 of the 10 data bytes its header announces");
}

Test(idx, trailing_data) {
  uint8_t b[64];
  const uint32_t dims[2] = {2, 5};
  size_t n = make_idx(b, 2, dims, 11); /* one byte more than announced */
  write_plain(tmp_path("long"), b, n);
  expect_refusal(tmp_path("long"), AIMC_ERR_CORRUPT,
                 "has data after the 10 bytes its header announces");
  write_gzip(tmp_path("long.gz"), b, n);
  expect_refusal(tmp_path("long.gz"), AIMC_ERR_CORRUPT,
                 "has data after the 10 bytes its header announces");
}

/* A gzip header (magic 1f 8b, deflate, no flags) followed by bytes that are
 * not a deflate stream: 0xff starts a block of the reserved type 3. */
Test(idx, corrupt_gzip_body) {
  uint8_t b[64] = {0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0x03};
  memset(b + 10, 0xff, 40);
  write_plain(tmp_path("bad.gz"), b, 50);
  expect_refusal(tmp_path("bad.gz"), AIMC_ERR_CORRUPT, "not a readable gzip stream");
  cr_assert(strstr(aimc_last_error(), "invalid block type"), "zlib's reason is kept: %s",
            aimc_last_error());
}

/* A valid gzip file of 4000 incompressible bytes cut in the middle of its
 * deflate stream: the loader sees the end of the stream too early. */
Test(idx, gzip_cut_in_the_middle) {
  enum { N = 4000 };
  static uint8_t b[N + 16];
  const uint32_t dims[1] = {N};
  size_t n = make_idx(b, 1, dims, N);
  test_rng_t r = {77};
  for (size_t k = 8; k < n; ++k) b[k] = (uint8_t)test_next(&r); /* defeat compression */
  write_gzip(tmp_path("full.gz"), b, n);
  size_t gz = file_size(tmp_path("full.gz"));
  cr_assert_gt(gz, (size_t)N, "stored blocks expected for random bytes (%zu bytes)", gz);
  static uint8_t g[2 * N];
  FILE *f = fopen(tmp_path("full.gz"), "rb");
  cr_assert_eq(fread(g, 1, gz, f), gz);
  fclose(f);
  aimc_idx_t ok;
  CK(aimc_idx_load(tmp_path("full.gz"), &ok)); /* the uncut file is fine */
  cr_assert_eq(ok.count, N);
  cr_assert_arr_eq(ok.data, b + 8, N);
  aimc_idx_free(&ok);
  const size_t cuts[3] = {gz / 2, gz - 9, 12}; /* mid-data, in the trailer's CRC, early */
  for (int k = 0; k < 3; ++k) {
    write_plain(tmp_path("cut.gz"), g, cuts[k]);
    aimc_idx_t out;
    cr_assert_eq(aimc_idx_load(tmp_path("cut.gz"), &out), AIMC_ERR_CORRUPT, "cut at %zu: %s",
                 cuts[k], aimc_last_error());
    const char *msg = aimc_last_error();
    cr_assert(strstr(msg, tmp_path("cut.gz")), "%s", msg);
    /* either the data is short, or zlib reports the early end */
    cr_assert(strstr(msg, "truncated") || strstr(msg, "gzip"), "cut at %zu: %s", cuts[k], msg);
    cr_assert(strstr(msg, "unexpected end of file") || strstr(msg, "of the 4000 data bytes"),
              "cut at %zu: %s", cuts[k], msg);
  }
}

Test(idx, argument_errors) {
  aimc_idx_t out;
  cr_assert_eq(aimc_idx_load(NULL, &out), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(aimc_last_error(), "path is NULL"), "%s", aimc_last_error());
  cr_assert_eq(aimc_idx_load(tmp_path("x"), NULL), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(aimc_last_error(), "out is NULL"), "%s", aimc_last_error());
  aimc_idx_free(NULL); /* harmless */
}

/* ---- Valid files ---------------------------------------------------------------------- */

/* 1 to 4 dimensions, dimensions above 255 (big-endian order matters),
 * plain and gzip: exact dims, count and bytes. */
Test(idx, valid_files_load_exactly) {
  static const struct {
    int nd;
    uint32_t dims[4];
  } cases[] = {{1, {7}}, {1, {300}}, {2, {3, 5}}, {2, {2, 260}}, {3, {2, 3, 4}},
               {3, {1, 1, 1}}, {4, {2, 1, 3, 2}}, {4, {3, 2, 2, 70}}};
  static uint8_t b[4096];
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
    int64_t count = 1;
    for (int d = 0; d < cases[c].nd; ++d) count *= cases[c].dims[d];
    size_t n = make_idx(b, cases[c].nd, cases[c].dims, count);
    for (int gz = 0; gz < 2; ++gz) {
      const char *p = tmp_path(gz ? "ok.idx.gz" : "ok.idx");
      if (gz)
        write_gzip(p, b, n);
      else
        write_plain(p, b, n);
      aimc_idx_t idx;
      CK(aimc_idx_load(p, &idx));
      cr_assert_eq(idx.n_dims, cases[c].nd, "case %zu gz %d", c, gz);
      for (int d = 0; d < cases[c].nd; ++d)
        cr_assert_eq(idx.dims[d], (int64_t)cases[c].dims[d], "case %zu dim %d", c, d);
      cr_assert_eq(idx.count, count);
      cr_assert_arr_eq(idx.data, b + 4 + 4 * cases[c].nd, (size_t)count, "case %zu gz %d", c, gz);
      aimc_idx_free(&idx);
      cr_assert_null(idx.data, "aimc_idx_free clears the pointer");
      aimc_idx_free(&idx); /* twice is harmless */
    }
  }
}

/* ---- Normalisation ------------------------------------------------------------------ */

static aimc_idx_t all_bytes(uint8_t *data) {
  for (int i = 0; i < 256; ++i) data[i] = (uint8_t)i;
  aimc_idx_t idx;
  memset(&idx, 0, sizeof idx);
  idx.n_dims = 1, idx.dims[0] = 256, idx.count = 256, idx.data = data;
  return idx;
}

/* out = (data / 255 - mean) / std, as documented: mean 0, std 1 maps the
 * bytes onto [0, 1] with 0 -> 0 and 255 -> 1 exactly; with Fashion-MNIST's
 * mean and std the values agree with the formula in double to 1 ulp-ish
 * (2e-7 relative: two float roundings of values of size ~3). */
Test(normalize, values) {
  uint8_t data[256];
  aimc_idx_t idx = all_bytes(data);
  float out[256];
  CK(aimc_idx_normalize(&idx, 0.0f, 1.0f, out));
  cr_assert_eq(out[0], 0.0f);
  cr_assert_eq(out[255], 1.0f);
  for (int i = 0; i < 256; ++i) {
    cr_assert_eq(out[i], (float)i / 255.0f, "byte %d", i);
    if (i) cr_assert_gt(out[i], out[i - 1], "monotonic at %d", i);
  }
  const float mean = 0.2860f, std = 0.3530f;
  CK(aimc_idx_normalize(&idx, mean, std, out));
  for (int i = 0; i < 256; ++i) {
    double ref = ((double)i / 255.0 - (double)mean) / (double)std;
    cr_assert_lt(fabs(out[i] - ref), 4e-7 * (1.0 + fabs(ref)), "byte %d: %.9g vs %.9g", i,
                 (double)out[i], ref);
  }
  /* an empty data set is fine */
  aimc_idx_t empty;
  memset(&empty, 0, sizeof empty);
  CK(aimc_idx_normalize(&empty, 0.0f, 1.0f, out));
}

Test(normalize, bad_arguments_rejected) {
  uint8_t data[256];
  aimc_idx_t idx = all_bytes(data);
  float out[256];
  const float bad_std[5] = {0.0f, -0.0f, -1.0f, NAN, INFINITY};
  for (int k = 0; k < 5; ++k) {
    cr_assert_eq(aimc_idx_normalize(&idx, 0.0f, bad_std[k], out), AIMC_ERR_INVALID_ARGUMENT,
                 "std = %g", (double)bad_std[k]);
    cr_assert(strstr(aimc_last_error(), "std in (0, inf)"), "%s", aimc_last_error());
  }
  cr_assert_eq(aimc_idx_normalize(&idx, NAN, 1.0f, out), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert_eq(aimc_idx_normalize(&idx, -INFINITY, 1.0f, out), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(aimc_last_error(), "mean must be finite"), "%s", aimc_last_error());
  cr_assert_eq(aimc_idx_normalize(NULL, 0.0f, 1.0f, out), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert_eq(aimc_idx_normalize(&idx, 0.0f, 1.0f, NULL), AIMC_ERR_INVALID_ARGUMENT);
  idx.data = NULL;
  cr_assert_eq(aimc_idx_normalize(&idx, 0.0f, 1.0f, out), AIMC_ERR_INVALID_ARGUMENT);
}

/* ---- The real data set -------------------------------------------------------------- */

#define FMNIST "/usr/share/datasets/fashion-mnist/"

static void load_real(const char *name, aimc_idx_t *idx) {
  char p[256];
  snprintf(p, sizeof p, FMNIST "%s", name);
  CK(aimc_idx_load(p, idx));
}

/* Fashion-MNIST (Debian's dataset-fashion-mnist): 60000 + 10000 images of
 * 28 x 28, labels 0..9, every class exactly 6000 (train) and 1000 (test)
 * times, as published. */
Test(fashion_mnist, real_files_have_the_published_shapes, .timeout = 120) {
  if (access(FMNIST "train-images-idx3-ubyte.gz", R_OK) != 0)
    cr_skip_test("%s not installed (Debian package dataset-fashion-mnist)",
                 FMNIST "train-images-idx3-ubyte.gz");
  static const struct {
    const char *images, *labels;
    int64_t n;
  } sets[2] = {{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 60000},
               {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 10000}};
  for (int s = 0; s < 2; ++s) {
    aimc_idx_t im, lb;
    load_real(sets[s].images, &im);
    cr_assert_eq(im.n_dims, 3);
    cr_assert_eq(im.dims[0], sets[s].n);
    cr_assert_eq(im.dims[1], 28);
    cr_assert_eq(im.dims[2], 28);
    cr_assert_eq(im.count, sets[s].n * 28 * 28);
    int max = 0;
    for (int64_t i = 0; i < im.count; ++i) max = im.data[i] > max ? im.data[i] : max;
    cr_assert_eq(max, 255, "images use the full byte range");
    aimc_idx_free(&im);
    load_real(sets[s].labels, &lb);
    cr_assert_eq(lb.n_dims, 1);
    cr_assert_eq(lb.dims[0], sets[s].n);
    cr_assert_eq(lb.count, sets[s].n);
    int64_t per_class[10] = {0};
    for (int64_t i = 0; i < lb.count; ++i) {
      cr_assert_lt(lb.data[i], 10, "label %lld is %d", (long long)i, lb.data[i]);
      per_class[lb.data[i]]++;
    }
    for (int c = 0; c < 10; ++c)
      cr_assert_eq(per_class[c], sets[s].n / 10, "%s: class %d appears %lld times", sets[s].labels,
                   c, (long long)per_class[c]);
    aimc_idx_free(&lb);
  }
}

/* ---- Permutations ------------------------------------------------------------------- */

static void check_is_permutation(const int64_t *p, int64_t n) {
  uint8_t *seen = calloc((size_t)n + 1, 1);
  cr_assert_not_null(seen);
  for (int64_t i = 0; i < n; ++i) {
    cr_assert(p[i] >= 0 && p[i] < n, "perm[%lld] = %lld out of range", (long long)i,
              (long long)p[i]);
    cr_assert_eq(seen[p[i]], 0, "%lld appears twice", (long long)p[i]);
    seen[p[i]] = 1;
  }
  free(seen);
}

Test(permutation, is_a_permutation) {
  static int64_t p[1000];
  const int64_t ns[4] = {0, 1, 2, 1000};
  for (int k = 0; k < 4; ++k)
    for (uint64_t epoch = 0; epoch < 5; ++epoch) {
      CK(aimc_permutation(12345, epoch, ns[k], p));
      check_is_permutation(p, ns[k]);
    }
  CK(aimc_permutation(1, 0, 0, NULL)); /* n = 0 needs no array */
  CK(aimc_permutation(1, 0, 1, p));
  cr_assert_eq(p[0], 0);
}

/* The same (seed, epoch) gives the same permutation; another epoch or seed
 * gives another (for n = 1000 a coincidence has probability 1/1000!). */
Test(permutation, reproducible_and_distinct) {
  static int64_t a[1000], b[1000];
  CK(aimc_permutation(7, 3, 1000, a));
  CK(aimc_permutation(7, 3, 1000, b));
  cr_assert_arr_eq(a, b, sizeof a);
  CK(aimc_permutation(7, 4, 1000, b));
  cr_assert(memcmp(a, b, sizeof a) != 0, "epochs 3 and 4 agree");
  CK(aimc_permutation(8, 3, 1000, b));
  cr_assert(memcmp(a, b, sizeof a) != 0, "seeds 7 and 8 agree");
  CK(aimc_permutation(UINT64_MAX, UINT64_MAX, 1000, b));
  check_is_permutation(b, 1000);
  /* the stream is part of the contract ("the same on every machine"):
   * this value was recorded from the library and must never change, or
   * shuffled runs would not reproduce */
  int64_t g[10];
  const int64_t golden[10] = {5, 1, 4, 2, 8, 7, 0, 6, 9, 3};
  CK(aimc_permutation(1, 0, 10, g));
  cr_assert_arr_eq(g, golden, sizeof g, "permutation (seed 1, epoch 0, n 10) changed");
}

/* Uniformity: over E = 24000 epochs (seed 2024) the position of every
 * element of n = 5 is uniform: each of the 25 (element, position) counts
 * is binomial(E, 1/5), mean 4800, sigma sqrt(E p (1 - p)) = 62; the bound is
 * 5 sigma per cell (a false alarm among 25 cells has probability ~1e-5).
 * For n = 4 all 24 orders are equally likely: chi-square with 23 degrees of
 * freedom, mean 23, sigma sqrt(46) = 6.8; the bound 23 + 6 sigma = 64 has
 * a false-alarm probability of 1e-5. n = 2 is a fair coin (sigma 77 in
 * 24000 epochs), bound 5 sigma. The seeds are fixed, so the
 * observed values never change; the bounds say how far they may be. */
Test(permutation, uniform) {
  enum { E = 24000 };
  int64_t count5[5][5] = {{0}}, p[5];
  for (uint64_t e = 0; e < E; ++e) {
    CK(aimc_permutation(2024, e, 5, p));
    for (int pos = 0; pos < 5; ++pos) count5[p[pos]][pos]++;
  }
  const double mean = E / 5.0, sigma = sqrt(E * 0.2 * 0.8);
  for (int el = 0; el < 5; ++el)
    for (int pos = 0; pos < 5; ++pos)
      cr_assert_lt(fabs((double)count5[el][pos] - mean), 5 * sigma,
                   "element %d at position %d %lld times (expected %g +- %g)", el, pos,
                   (long long)count5[el][pos], mean, sigma);
  int64_t orders[256] = {0};
  for (uint64_t e = 0; e < E; ++e) {
    CK(aimc_permutation(99, e, 4, p));
    orders[p[0] * 64 + p[1] * 16 + p[2] * 4 + p[3]]++;
  }
  double chi2 = 0.0, expect = E / 24.0;
  int distinct = 0;
  for (int k = 0; k < 256; ++k)
    if (orders[k]) {
      ++distinct;
      chi2 += (orders[k] - expect) * (orders[k] - expect) / expect;
    }
  cr_assert_eq(distinct, 24, "all 24 orders of 4 elements occur");
  cr_assert_lt(chi2, 23 + 6 * sqrt(46.0), "chi-square %g with 23 degrees of freedom", chi2);
  int64_t swaps = 0;
  for (uint64_t e = 0; e < E; ++e) {
    CK(aimc_permutation(5, e, 2, p));
    swaps += p[0] == 1;
  }
  cr_assert_lt(fabs((double)swaps - E / 2.0), 5 * sqrt(E * 0.25), "%lld swaps of %d",
               (long long)swaps, E);
}

Test(permutation, bad_arguments_rejected) {
  int64_t p[4] = {-7, -7, -7, -7};
  cr_assert_eq(aimc_permutation(1, 0, -1, p), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(aimc_last_error(), "n = -1 is negative"), "%s", aimc_last_error());
  cr_assert_eq(aimc_permutation(1, 0, INT64_MIN, p), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert_eq(aimc_permutation(1, 0, 4, NULL), AIMC_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(aimc_last_error(), "perm is NULL"), "%s", aimc_last_error());
  for (int k = 0; k < 4; ++k) cr_assert_eq(p[k], -7, "a failed call wrote perm");
}
