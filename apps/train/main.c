/* aimc-train: trains networks on simulated analog tiles, many replicas at
 * once (seeds x sweep values, every layer of all replicas one tile batch),
 * with progress, per-epoch results, plots and resumable checkpoints.
 *
 * Reproducibility: the data order of epoch e is aimc_permutation(seed, e)
 * and every random number of the library comes from counters stored in the
 * checkpoint, so a resumed run continues bit for bit. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aimc.h"
#include "dataset.h"
#include "options.h"
#include "report.h"
#include "resume_block.h"

/* Exit statuses: 0 done, 2 bad arguments, data or files, 3 training diverged. */
enum { EXIT_BAD = 2, EXIT_DIVERGED = 3 };

/* ---- Setup ------------------------------------------------------------------------ */

typedef struct trainer {
  options_t opt;
  dataset_t data;
  aimc_context_t *ctx;
  aimc_network_t *net;
  int32_t replicas;
  history_t hist;
  configuration_t *configs;
  run_info_t info;
  char command[4096], machine[256], checkpoint[TRAIN_PATH_LEN + 32];
  char stopped[512];   /* why training stopped early ("" when it did not) */
  /* batch buffers: host and context memory */
  float *hx, *x, *loss;
  int32_t *hy, *y;
  float *test_x;
  int32_t *test_y;
  int64_t *correct;
  uint64_t *pulses, *weights;
} trainer_t;

static void describe_machine(char *out, size_t cap) {
  char model[160] = "unknown CPU";
  FILE *f = fopen("/proc/cpuinfo", "r");
  char line[512];
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
      snprintf(model, sizeof model, "%s", strchr(line, ':') + 2);
      model[strcspn(model, "\n")] = '\0';
      break;
    }
  if (f) fclose(f);
  snprintf(out, cap, "%s, %ld cores", model, sysconf(_SC_NPROCESSORS_ONLN));
}

static void join_command(int argc, char **argv, char *out, size_t cap) {
  size_t n = 0;
  out[0] = '\0';
  for (int i = 0; i < argc && n + 1 < cap; ++i)
    n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? " " : "", argv[i]);
}

static int make_dir(const char *path) {
  if (mkdir(path, 0777) == 0 || errno == EEXIST) {
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) return 0;
  }
  fprintf(stderr, "aimc-train: --out %s: cannot create the folder (%s)\n", path,
          errno == EEXIST ? "a file of that name exists" : strerror(errno));
  return 2;
}

/* The folder of path (".", when it has none) into dir[cap]. */
static void folder_of(const char *path, char *dir, size_t cap) {
  const char *slash = strrchr(path, '/');
  if (!slash)
    snprintf(dir, cap, ".");
  else if (slash == path)
    snprintf(dir, cap, "/");
  else
    snprintf(dir, cap, "%.*s", (int)(slash - path), path);
}

/* Creates and removes a file in dir, so that an unwritable folder is found
 * before training rather than after the first epoch. */
static int check_writable(const char *opt, const char *dir) {
  char probe[TRAIN_PATH_LEN + 64];
  snprintf(probe, sizeof probe, "%s/.aimc-train-probe.XXXXXX", dir);
  int fd = mkstemp(probe);
  if (fd < 0) {
    fprintf(stderr, "aimc-train: %s: cannot write in the folder %s (%s)\n", opt, dir,
            strerror(errno));
    return 2;
  }
  close(fd);
  unlink(probe);
  return 0;
}

/* 1 when name is <base>.tmp.XXXXXX: the temporary file the library's
 * atomic checkpoint write (mkstemp on "<path>.tmp.XXXXXX") leaves behind
 * when the process is killed mid-write. */
static int is_checkpoint_tmp(const char *name, const char *base) {
  size_t n = strlen(base);
  if (strncmp(name, base, n) || strncmp(name + n, ".tmp.", 5)) return 0;
  const char *x = name + n + 5;
  for (int i = 0; i < 6; ++i)
    if (!((x[i] >= 'a' && x[i] <= 'z') || (x[i] >= 'A' && x[i] <= 'Z') ||
          (x[i] >= '0' && x[i] <= '9')))
      return 0;
  return x[6] == '\0';
}

/* Removes the checkpoint's stale temporary files (regular files, untouched
 * for a minute: a run still writing this checkpoint keeps its own). */
static void remove_stale_tmp(const char *checkpoint) {
  char dir[TRAIN_PATH_LEN + 32], path[2 * TRAIN_PATH_LEN + 64];
  folder_of(checkpoint, dir, sizeof dir);
  const char *slash = strrchr(checkpoint, '/'), *base = slash ? slash + 1 : checkpoint;
  DIR *d = opendir(dir);
  if (!d) return;
  time_t now = time(NULL);
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    if (!is_checkpoint_tmp(e->d_name, base)) continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat sb;
    if (lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || now - sb.st_mtime < 60) continue;
    if (unlink(path) == 0)
      fprintf(stderr, "aimc-train: removed %s (%lld bytes), a temporary checkpoint left by an "
                      "interrupted run\n", path, (long long)sb.st_size);
  }
  closedir(d);
}

/* The output folder and the checkpoint's folder exist and are writable. */
static int prepare_output(const trainer_t *t) {
  if (make_dir(t->opt.run.out) || check_writable("--out", t->opt.run.out)) return 2;
  if (!strcmp(t->opt.run.checkpoint, "none")) return 0;
  char dir[TRAIN_PATH_LEN + 32];
  folder_of(t->checkpoint, dir, sizeof dir);
  struct stat sb;
  if (stat(t->checkpoint, &sb) == 0 && S_ISDIR(sb.st_mode)) {
    fprintf(stderr, "aimc-train: --checkpoint %s is a folder\n", t->checkpoint);
    return 2;
  }
  if (check_writable("--checkpoint", dir)) return 2;
  remove_stale_tmp(t->checkpoint);
  return 0;
}

static int open_context(trainer_t *t) {
  aimc_context_desc_t cd;
  aimc_context_desc_default(&cd);
  cd.backend = t->opt.run.backend;
  cd.n_threads = t->opt.run.threads;
  cd.seed = t->opt.model.seed;
  if (aimc_context_create(&t->ctx, &cd) != AIMC_OK) {
    fprintf(stderr, "aimc-train: --backend: %s\n", aimc_last_error());
    return 2;
  }
  return 0;
}

/* The network: from the checkpoint on --resume, else new from the options. */
static int open_network(trainer_t *t) {
  if (!t->opt.run.resume[0]) {
    aimc_network_desc_t d;
    if (options_network_desc(&t->opt.model, &d)) return 2;
    if (aimc_network_create(t->ctx, &d, &t->net) != AIMC_OK) {
      fprintf(stderr, "aimc-train: %s\n", aimc_last_error());
      return 2;
    }
    aimc_network_replicas(t->net, &t->replicas);
    if (!history_init(&t->hist, t->replicas, t->opt.run.epochs)) {
      fprintf(stderr, "aimc-train: out of memory\n");
      return 2;
    }
    return 0;
  }
  size_t cap = (size_t)1 << 20, len = 0;
  void *buf = malloc(cap);
  aimc_status_t s = buf ? aimc_network_load(t->ctx, t->opt.run.resume, &t->net, buf, cap, &len)
                        : AIMC_ERR_OUT_OF_MEMORY;
  if (s == AIMC_OK && len > cap) { /* a long history: read again with room for it */
    aimc_network_destroy(t->net);
    t->net = NULL;
    void *bigger = realloc(buf, len);
    s = bigger ? aimc_network_load(t->ctx, t->opt.run.resume, &t->net, bigger, len, &len)
               : AIMC_ERR_OUT_OF_MEMORY;
    buf = bigger ? bigger : buf;
  }
  if (s != AIMC_OK) {
    fprintf(stderr, "aimc-train: --resume: %s\n",
            s == AIMC_ERR_OUT_OF_MEMORY ? "out of memory" : aimc_last_error());
    free(buf);
    return 2;
  }
  aimc_network_replicas(t->net, &t->replicas);
  aimc_network_desc_t *nd = malloc(sizeof *nd);
  char err[512] = "out of memory";
  int rc = !nd || aimc_network_desc_get(t->net, nd) != AIMC_OK ||
           resume_block_decode(buf, len, t->replicas, nd, t->opt.run.epochs, &t->opt.model,
                               &t->hist, err, sizeof err);
  if (rc)
    fprintf(stderr, "aimc-train: --resume %s: the network loaded but its aimc-train block is "
                    "refused: %s\n", t->opt.run.resume, err);
  free(nd);
  free(buf);
  return rc ? 2 : 0;
}

static int describe_configs(trainer_t *t) {
  const model_options_t *m = &t->opt.model;
  int32_t n = t->replicas / m->seeds;
  t->configs = calloc((size_t)n, sizeof *t->configs);
  if (!t->configs) return 2;
  for (int32_t c = 0; c < n; ++c) {
    configuration_t *cf = &t->configs[c];
    size_t len = 0;
    for (int32_t s = 0; s < m->n_sweeps; ++s) {
      aimc_network_sweep_value(t->net, c * m->seeds, s, &cf->values[s]);
      len += (size_t)snprintf(cf->label + len, sizeof cf->label - len, "%s%s=%g", s ? ", " : "",
                              m->sweeps[s].field, cf->values[s]);
      if (len >= sizeof cf->label) len = sizeof cf->label - 1;
    }
    if (m->n_sweeps == 0) snprintf(cf->label, sizeof cf->label, "%s", options_algorithm_key(m->algorithm));
  }
  run_info_t *in = &t->info;
  in->opt = &t->opt, in->command = t->command, in->machine = t->machine;
  in->stopped = t->stopped;
  in->backend = aimc_context_backend(t->ctx) == AIMC_BACKEND_CUDA ? "cuda" : "cpu";
  in->replicas = t->replicas, in->n_configs = n, in->configs = t->configs;
  in->train_samples = t->data.train.n, in->test_samples = t->data.test.n;
  return 0;
}

static int alloc_buffers(trainer_t *t) {
  int64_t B = t->opt.model.batch, dim = t->data.train.dim, K = t->replicas;
  int64_t nt = t->data.test.n;
  t->hx = malloc((size_t)(B * dim) * sizeof *t->hx);
  t->hy = malloc((size_t)B * sizeof *t->hy);
  t->loss = malloc((size_t)K * sizeof *t->loss);
  t->correct = malloc((size_t)K * sizeof *t->correct);
  t->pulses = malloc((size_t)K * sizeof *t->pulses);
  t->weights = malloc((size_t)K * sizeof *t->weights);
  int ok = t->hx && t->hy && t->loss && t->correct && t->pulses && t->weights;
  ok = ok && aimc_malloc(t->ctx, (void **)&t->x, (size_t)(B * dim) * sizeof(float)) == AIMC_OK;
  ok = ok && aimc_malloc(t->ctx, (void **)&t->y, (size_t)B * sizeof(int32_t)) == AIMC_OK;
  ok = ok && aimc_malloc(t->ctx, (void **)&t->test_x, (size_t)(nt * dim) * sizeof(float)) == AIMC_OK;
  ok = ok && aimc_malloc(t->ctx, (void **)&t->test_y, (size_t)nt * sizeof(int32_t)) == AIMC_OK;
  ok = ok && aimc_memcpy(t->ctx, t->test_x, t->data.test.x, (size_t)(nt * dim) * sizeof(float),
                         AIMC_COPY_HOST_TO_CONTEXT) == AIMC_OK;
  ok = ok && aimc_memcpy(t->ctx, t->test_y, t->data.test.y, (size_t)nt * sizeof(int32_t),
                         AIMC_COPY_HOST_TO_CONTEXT) == AIMC_OK;
  if (!ok) fprintf(stderr, "aimc-train: out of memory for the data buffers (%s)\n", aimc_last_error());
  return ok ? 0 : 2;
}

static int check_shapes(const trainer_t *t) {
  const model_options_t *m = &t->opt.model;
  if (m->sizes[0] != t->data.train.dim) {
    fprintf(stderr, "aimc-train: --layers starts with %d inputs but the images have %d pixels\n",
            m->sizes[0], t->data.train.dim);
    return 2;
  }
  if (m->sizes[m->n_sizes - 1] < t->data.classes) {
    fprintf(stderr, "aimc-train: --layers ends with %d outputs but the labels have %d classes\n",
            m->sizes[m->n_sizes - 1], t->data.classes);
    return 2;
  }
  return 0;
}

static void trainer_free(trainer_t *t) {
  if (t->ctx) {
    aimc_free(t->ctx, t->x), aimc_free(t->ctx, t->y);
    aimc_free(t->ctx, t->test_x), aimc_free(t->ctx, t->test_y);
  }
  free(t->hx), free(t->hy), free(t->loss), free(t->correct), free(t->pulses), free(t->weights);
  free(t->configs);
  history_free(&t->hist);
  aimc_network_destroy(t->net);
  aimc_context_destroy(t->ctx);
  dataset_free(&t->data);
}

/* ---- One epoch ---------------------------------------------------------------------- */

static int fail(const char *what) {
  fprintf(stderr, "\naimc-train: %s: %s\n", what, aimc_last_error());
  return 2;
}

/* Stops the run as diverged: the reason goes to t->stopped and stderr; the
 * epoch is not recorded and no checkpoint is written, so the last one (of the
 * last good epoch) stays as it was. */
static int diverged(trainer_t *t, int32_t e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int diverged(trainer_t *t, int32_t e, const char *fmt, ...) {
  char what[384];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  snprintf(t->stopped, sizeof t->stopped, "diverged in epoch %d: %s", e + 1, what);
  fprintf(stderr, "\naimc-train: training diverged in epoch %d: %s. Stopped; %s. Try a smaller "
                  "--lr.\n", e + 1, what,
          !strcmp(t->opt.run.checkpoint, "none") ? "no checkpoint is written (--checkpoint none)"
          : t->hist.epochs > 0 ? "the checkpoint keeps the last good epoch"
                               : "no epoch finished, so no checkpoint was written");
  return EXIT_DIVERGED;
}

/* The first replica whose loss is not finite, or -1. */
static int32_t nonfinite_loss(const float *loss, int64_t replicas) {
  for (int64_t k = 0; k < replicas; ++k)
    if (!isfinite(loss[k])) return (int32_t)k;
  return -1;
}

/* Trains on every sample once in the order of epoch e; mean loss per replica.
 * A failed step or a non-finite loss stops the run (any status other than
 * AIMC_OK: the library refuses a step that would make the state
 * non-finite). */
static int train_epoch(trainer_t *t, int32_t e, progress_t *p, int64_t *perm, double *loss_sum) {
  const split_t *tr = &t->data.train;
  int64_t B = t->opt.model.batch, K = t->replicas, dim = tr->dim, batches = 0;
  if (aimc_permutation(t->opt.model.seed, (uint64_t)e, tr->n, perm) != AIMC_OK)
    return fail("shuffling");
  for (int64_t k = 0; k < K; ++k) loss_sum[k] = 0.0;
  for (int64_t b0 = 0; b0 < tr->n; b0 += B) {
    int64_t nb = tr->n - b0 < B ? tr->n - b0 : B;
    for (int64_t i = 0; i < nb; ++i) {
      memcpy(t->hx + i * dim, tr->x + perm[b0 + i] * dim, (size_t)dim * sizeof(float));
      t->hy[i] = tr->y[perm[b0 + i]];
    }
    if (aimc_memcpy(t->ctx, t->x, t->hx, (size_t)(nb * dim) * sizeof(float),
                    AIMC_COPY_HOST_TO_CONTEXT) != AIMC_OK ||
        aimc_memcpy(t->ctx, t->y, t->hy, (size_t)nb * sizeof(int32_t), AIMC_COPY_HOST_TO_CONTEXT) !=
            AIMC_OK)
      return fail("copying a batch");
    aimc_status_t s = aimc_network_train_batch(t->net, t->x, t->y, nb, t->loss);
    if (s != AIMC_OK)
      return diverged(t, e, "the training step of samples %lld..%lld failed (%s: %s)",
                      (long long)b0, (long long)(b0 + nb - 1), aimc_status_string(s),
                      aimc_last_error());
    int32_t bad = nonfinite_loss(t->loss, K);
    if (bad >= 0)
      return diverged(t, e, "replica %d has loss %g after samples %lld..%lld", bad,
                      (double)t->loss[bad], (long long)b0, (long long)(b0 + nb - 1));
    double mean = 0.0;
    for (int64_t k = 0; k < K; ++k) {
      loss_sum[k] += t->loss[k];
      mean += t->loss[k] / (double)K;
    }
    batches++;
    progress_update(p, b0 + nb, (float)mean);
  }
  for (int64_t k = 0; k < K; ++k) loss_sum[k] /= (double)batches;
  return 0;
}

/* 1 when all n values of context array a are finite; the first bad index in *at. */
static int all_finite(trainer_t *t, const float *a, size_t n, float *host, size_t *at) {
  if (aimc_memcpy(t->ctx, host, a, n * sizeof *host, AIMC_COPY_CONTEXT_TO_HOST) != AIMC_OK) return 0;
  for (size_t i = 0; i < n; ++i)
    if (!isfinite(host[i])) {
      *at = i;
      return 0;
    }
  return 1;
}

/* Whether layer l's weights and biases (every replica) are finite; 2 when
 * they cannot be read. */
static int layer_diverged(trainer_t *t, int32_t l, const aimc_layer_desc_t *ly, const char **what,
                          size_t *at) {
  size_t nw = (size_t)t->replicas * (size_t)ly->out * (size_t)ly->in;
  size_t nb = (size_t)t->replicas * (size_t)ly->out;
  float *dev = NULL, *host = malloc(nw * sizeof *host);
  int rc = 2;
  if (host && aimc_malloc(t->ctx, (void **)&dev, nw * sizeof *dev) == AIMC_OK) {
    if (aimc_network_get_layer(t->net, l, dev) == AIMC_OK) {
      *what = "weight";
      rc = !all_finite(t, dev, nw, host, at);
      if (rc == 0 && aimc_network_get_bias(t->net, l, dev) == AIMC_OK) {
        *what = "bias";
        rc = !all_finite(t, dev, nb, host, at);
      } else if (rc == 0) {
        rc = 2;
      }
    }
  }
  aimc_free(t->ctx, dev);
  free(host);
  return rc;
}

/* After an epoch: the losses, accuracies, weights and biases are finite
 * (else the run stops as diverged, before the epoch is recorded or saved). */
static int check_state(trainer_t *t, int32_t e, const double *loss) {
  for (int32_t k = 0; k < t->replicas; ++k)
    if (!isfinite(loss[k]))
      return diverged(t, e, "replica %d has mean loss %g", k, loss[k]);
  aimc_network_desc_t *d = malloc(sizeof *d);
  if (!d || aimc_network_desc_get(t->net, d) != AIMC_OK) {
    free(d);
    return fail("reading the network");
  }
  int rc = 0;
  for (int32_t l = 0; !rc && l < d->n_layers; ++l) {
    const char *what = "";
    size_t at = 0;
    int r = layer_diverged(t, l, &d->layers[l], &what, &at);
    if (r == 2)
      rc = fail("reading the weights");
    else if (r)
      rc = diverged(t, e, "layer %d has a non-finite %s (element %zu of all replicas)", l, what, at);
  }
  free(d);
  return rc;
}

static int run_epoch(trainer_t *t, int32_t e, int64_t *perm, double *loss, double later) {
  const model_options_t *m = &t->opt.model;
  float lr = options_learning_rate(m, e, t->opt.run.epochs);
  if (m->schedule != SCHEDULE_CONSTANT && aimc_network_set_learning_rate(t->net, lr) != AIMC_OK)
    return fail("setting the learning rate");
  progress_t p;
  progress_start(&p, &t->opt.run, e, t->opt.run.epochs, t->data.train.n, later);
  double start = now_seconds(), cpu_start = cpu_seconds();
  int trc = train_epoch(t, e, &p, perm, loss);
  if (trc) return trc;
  double train_seconds = now_seconds() - start, train_cpu = cpu_seconds() - cpu_start;
  progress_phase(&p, "testing");
  if (aimc_network_evaluate(t->net, t->test_x, t->test_y, t->data.test.n, t->opt.run.eval_batch,
                            t->correct) != AIMC_OK)
    return fail("testing");
  if (aimc_network_pulses(t->net, t->pulses, t->weights) != AIMC_OK) return fail("statistics");
  progress_end(&p);
  int rc = check_state(t, e, loss);
  if (rc) return rc;
  history_t *h = &t->hist;
  h->epoch[e].seconds = now_seconds() - start;
  h->train_seconds[e] = train_seconds;
  h->train_cpu_seconds[e] = train_cpu;
  h->epoch[e].lr = lr;
  for (int32_t k = 0; k < t->replicas; ++k) {
    replica_result_t *r = &h->rep[(size_t)e * (size_t)t->replicas + (size_t)k];
    r->loss = (float)loss[k];
    r->accuracy = (float)(100.0 * (double)t->correct[k] / (double)t->data.test.n);
    r->pulses_per_weight = t->weights[k] ? (float)((double)t->pulses[k] / (double)t->weights[k]) : 0.0f;
  }
  h->epochs = e + 1;
  t->info.weights = t->weights[0];
  return 0;
}

static int save_checkpoint(trainer_t *t) {
  if (!strcmp(t->opt.run.checkpoint, "none")) return 0;
  size_t len;
  void *buf = resume_block_encode(&t->opt.model, &t->hist, &len);
  if (!buf) return fail("packing the trainer state");
  aimc_status_t s = aimc_network_save(t->net, t->checkpoint, buf, len);
  free(buf);
  if (s != AIMC_OK) return fail("writing the checkpoint");
  return 0;
}

static int train(trainer_t *t) {
  int32_t epochs = t->opt.run.epochs, first = t->hist.epochs;
  int64_t *perm = malloc((size_t)t->data.train.n * sizeof *perm);
  double *loss = malloc((size_t)t->replicas * sizeof *loss);
  int rc = perm && loss ? 0 : 2;
  if (rc) fprintf(stderr, "aimc-train: out of memory\n");
  for (int32_t e = first; !rc && e < epochs; ++e) {
    double per_epoch = 0.0; /* mean of the epochs so far, for the run's ETA */
    for (int32_t q = first; q < e; ++q) per_epoch += t->hist.epoch[q].seconds / (e - first);
    rc = run_epoch(t, e, perm, loss, per_epoch * (epochs - e - 1));
    if (!rc) rc = report_files(&t->info, &t->hist);
    if (!rc) rc = save_checkpoint(t);
    if (!rc) report_epoch(&t->info, &t->hist, e);
  }
  free(perm);
  free(loss);
  if (rc == EXIT_DIVERGED) report_files(&t->info, &t->hist); /* the good epochs, and why */
  return rc;
}

static void announce(const trainer_t *t) {
  if (t->opt.run.quiet) return;
  const model_options_t *m = &t->opt.model;
  fprintf(stderr, "aimc-train %s: %s on %s, %d replicas (%d configurations x %d seeds), backend %s"
                  "%s, %lld training and %lld test samples, batch %d\n",
          aimc_version_string(), options_algorithm_key(m->algorithm), options_device_key(m->device),
          t->replicas, t->info.n_configs, m->seeds, t->info.backend,
          t->opt.run.backend == AIMC_BACKEND_AUTO && aimc_context_backend(t->ctx) != AIMC_BACKEND_CUDA
              ? (aimc_cuda_available() ? "" : " (no usable GPU)")
              : "",
          (long long)t->data.train.n, (long long)t->data.test.n, m->batch);
  if (t->opt.run.resume[0])
    fprintf(stderr, "resuming %s after epoch %d of %d\n", t->opt.run.resume, t->hist.epochs,
            t->opt.run.epochs);
}

int main(int argc, char **argv) {
  trainer_t t;
  memset(&t, 0, sizeof t);
  int rc = options_parse(argc, argv, &t.opt);
  if (rc) return rc == 1 ? 0 : 2;
  join_command(argc, argv, t.command, sizeof t.command);
  describe_machine(t.machine, sizeof t.machine);
  if (t.opt.run.checkpoint[0] == '\0')
    snprintf(t.checkpoint, sizeof t.checkpoint, "%s/checkpoint.aimc", t.opt.run.out);
  else
    snprintf(t.checkpoint, sizeof t.checkpoint, "%s", t.opt.run.checkpoint);
  rc = prepare_output(&t);
  if (!rc) rc = open_context(&t);
  if (!rc) rc = open_network(&t);
  if (!rc) /* on resume the options now come from the checkpoint */
    rc = dataset_load(t.opt.run.data, t.opt.model.train_subset, t.opt.model.test_subset,
                      t.opt.model.seed, &t.data);
  if (!rc) rc = check_shapes(&t);
  if (!rc) rc = describe_configs(&t);
  if (!rc) rc = alloc_buffers(&t);
  if (!rc) {
    announce(&t);
    if (t.hist.epochs >= t.opt.run.epochs)
      fprintf(stderr, "aimc-train: the checkpoint already holds %d epochs; pass --epochs N with "
                      "N > %d to train more\n", t.hist.epochs, t.hist.epochs);
    rc = train(&t);
  }
  if (!rc && t.hist.epochs > 0) {
    if (aimc_network_pulses(t.net, t.pulses, t.weights) == AIMC_OK) t.info.weights = t.weights[0];
    report_table(&t.info, &t.hist);
    report_plot(&t.info, &t.hist);
    if (strcmp(t.opt.run.checkpoint, "none"))
      printf("checkpoint: %s (continue with --resume %s --epochs N)\n", t.checkpoint, t.checkpoint);
  }
  trainer_free(&t);
  return rc;
}
