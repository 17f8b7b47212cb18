/* Noise-free analog reads equal the exact products W x and W^T d for all
 * shapes, tile counts and directions; strided and shared inputs. */
#include "common.h"

typedef struct shape {
  int64_t tiles;
  int rows, cols, batch;
} shape_t;

static const shape_t shapes[] = {{1, 1, 1, 1},   {1, 1, 7, 2},    {1, 7, 1, 3},
                                 {5, 3, 5, 2},   {2, 31, 33, 3},  {3, 64, 64, 1},
                                 {1, 65, 127, 4}, {2, 256, 17, 2}, {50, 3, 4, 2},
                                 {1, 1, 4096, 1}};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

/* |computed - exact| <= gamma_n sum_j |w_ij x_j| with gamma_n = n u/(1 - n u),
 * u = 2^-24: the worst-case error of any order of n float additions (Higham,
 * Accuracy and Stability, 3.1), plus the rounding of the final scaling. */
static void check_product(const float *w, const float *in, const float *out, const shape_t *s,
                          int transposed, float scale, const char *what) {
  int n_in = transposed ? s->rows : s->cols, n_out = transposed ? s->cols : s->rows;
  double u = 0x1.0p-24, gamma = (n_in + 1) * u / (1 - (n_in + 1) * u);
  for (int64_t t = 0; t < s->tiles; ++t)
    for (int b = 0; b < s->batch; ++b)
      for (int o = 0; o < n_out; ++o) {
        double exact = 0, absum = 0;
        for (int k = 0; k < n_in; ++k) {
          int i = transposed ? k : o, j = transposed ? o : k;
          double p = (double)w[(t * s->rows + i) * s->cols + j] * in[(t * s->batch + b) * n_in + k];
          exact += p, absum += fabs(p);
        }
        double got = out[(t * s->batch + b) * n_out + o];
        double bound = fabs(scale) * (gamma * absum + u * fabs(exact)) + 1e-30;
        cr_assert_leq(fabs(got - scale * exact), bound,
                      "%s %dx%d tile %lld sample %d output %d: %.9g vs %.9g (bound %g)", what,
                      s->rows, s->cols, (long long)t, b, o, got, scale * exact, bound);
      }
}

static void run_shapes(void (*configure)(aimc_tile_config_t *), float scale, const char *what) {
  aimc_context_t *ctx = test_context(2, 1);
  test_rng_t r = {101};
  for (size_t c = 0; c < N_SHAPES; ++c) {
    const shape_t *s = &shapes[c];
    aimc_tiles_desc_t td;
    aimc_tiles_desc_default(&td);
    td.n_tiles = s->tiles, td.rows = s->rows, td.cols = s->cols;
    configure(&td.config);
    aimc_tiles_t *t = test_tiles(ctx, &td);
    size_t nw = (size_t)s->tiles * s->rows * s->cols;
    size_t nx = (size_t)s->tiles * s->batch * s->cols, nd = (size_t)s->tiles * s->batch * s->rows;
    float *w = test_alloc(nw), *x = test_alloc(nx), *d = test_alloc(nd);
    float *y = test_alloc(nd), *g = test_alloc(nx);
    test_fill(&r, w, nw, -1, 1);
    test_fill(&r, x, nx, -1, 1);
    test_fill(&r, d, nd, -1, 1);
    CK(aimc_tiles_set_weights(t, w));
    CK(aimc_tiles_forward(t, x, y, s->batch));
    check_product(w, x, y, s, 0, scale, what);
    CK(aimc_tiles_backward(t, d, g, s->batch));
    check_product(w, d, g, s, 1, scale, what);
    free(w), free(x), free(d), free(y), free(g);
    aimc_tiles_destroy(t);
  }
  aimc_context_destroy(ctx);
}

static void perfect(aimc_tile_config_t *c) { aimc_tile_config_io_preset(c, AIMC_IO_PERFECT); }

static void perfect_scaled(aimc_tile_config_t *c) {
  perfect(c);
  c->forward.out_scale = c->backward.out_scale = 0.5f; /* exact in binary */
}

static void clean(aimc_tile_config_t *c) {
  test_clean_io(&c->forward);
  test_clean_io(&c->backward);
}

Test(exact_reads, perfect_mode) { run_shapes(perfect, 1.0f, "perfect"); }
Test(exact_reads, perfect_mode_scaled) { run_shapes(perfect_scaled, 0.5f, "out_scale"); }
Test(exact_reads, noise_free_pipeline) { run_shapes(clean, 1.0f, "clean"); }

/* Transfer reads use the transfer IO; a perfect one reads W e_k exactly. */
Test(exact_reads, transfer_directions) {
  aimc_context_t *ctx = test_context(1, 1);
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = 2, td.rows = 3, td.cols = 4;
  aimc_io_desc_default(&td.config.transfer, AIMC_IO_PERFECT);
  aimc_tiles_t *t = test_tiles(ctx, &td);
  float w[24], e[4] = {0, 0, 1, 0}, col[6], er[3] = {0, 1, 0}, row[8];
  test_rng_t r = {5};
  test_fill(&r, w, 24, -1, 1);
  CK(aimc_tiles_set_weights(t, w));
  CK(aimc_tiles_mvm_ex(t, AIMC_TRANSFER_FORWARD, e, 0, col, 1));
  CK(aimc_tiles_mvm_ex(t, AIMC_TRANSFER_BACKWARD, er, 0, row, 1));
  for (int k = 0; k < 2; ++k) {
    for (int i = 0; i < 3; ++i) cr_assert_eq(col[k * 3 + i], w[k * 12 + i * 4 + 2]);
    for (int j = 0; j < 4; ++j) cr_assert_eq(row[k * 4 + j], w[k * 12 + 4 + j]);
  }
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* Stride 0 broadcasts one input to all tiles; any larger stride selects
 * each tile's input. */
Test(exact_reads, input_strides) {
  aimc_context_t *ctx = test_context(2, 1);
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = 3, td.rows = 4, td.cols = 5;
  aimc_tile_config_io_preset(&td.config, AIMC_IO_PERFECT);
  aimc_tiles_t *t = test_tiles(ctx, &td);
  float w[60], x[3 * 2 * 8], shared[10], y[24], y2[24], copies[30];
  test_rng_t r = {9};
  test_fill(&r, w, 60, -1, 1);
  test_fill(&r, x, 48, -1, 1);
  test_fill(&r, shared, 10, -1, 1);
  CK(aimc_tiles_set_weights(t, w));
  CK(aimc_tiles_mvm_ex(t, AIMC_FORWARD, shared, 0, y, 2));
  for (int k = 0; k < 3; ++k) memcpy(copies + 10 * k, shared, sizeof shared);
  CK(aimc_tiles_forward(t, copies, y2, 2));
  cr_assert_arr_eq(y, y2, sizeof y);
  /* padded inputs: stride 16 for 2 samples of 5 */
  float padded[48];
  for (int k = 0; k < 3; ++k) memcpy(padded + 16 * k, x + 10 * k, 10 * sizeof(float));
  CK(aimc_tiles_mvm_ex(t, AIMC_FORWARD, padded, 16, y, 2));
  CK(aimc_tiles_forward(t, x, y2, 2));
  cr_assert_arr_eq(y, y2, sizeof y);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}

/* Each tile of a large batch reads its own weights. */
Test(exact_reads, many_tiles_are_independent) {
  enum { T = 300 };
  aimc_context_t *ctx = test_context(2, 1);
  aimc_tiles_desc_t td;
  aimc_tiles_desc_default(&td);
  td.n_tiles = T, td.rows = 2, td.cols = 2;
  aimc_tile_config_io_preset(&td.config, AIMC_IO_PERFECT);
  aimc_tiles_t *t = test_tiles(ctx, &td);
  float w[T * 4], x[2] = {1.0f, 0.0f}, y[T * 2];
  for (int k = 0; k < T; ++k) w[4 * k] = (float)k, w[4 * k + 1] = 9, w[4 * k + 2] = -(float)k,
                              w[4 * k + 3] = 9;
  CK(aimc_tiles_set_weights(t, w));
  CK(aimc_tiles_mvm_ex(t, AIMC_FORWARD, x, 0, y, 1));
  for (int k = 0; k < T; ++k) cr_assert(y[2 * k] == (float)k && y[2 * k + 1] == -(float)k);
  aimc_tiles_destroy(t);
  aimc_context_destroy(ctx);
}
