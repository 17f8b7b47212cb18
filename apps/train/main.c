/* aimc-train: trains networks on simulated analog tiles, many replicas at
 * once (seeds x sweep values, every layer of all replicas one tile batch),
 * with progress, per-epoch results, plots and resumable checkpoints.
 *
 * Reproducibility: the data order of epoch e is aimc_permutation(seed, e)
 * and every random number of the library comes from counters stored in the
 * checkpoint, so a resumed run continues bit for bit. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aimc.h"
#include "dataset.h"
#include "options.h"
#include "report.h"

/* ---- The trainer's part of a checkpoint (its user block) -------------------------- */

#define STATE_MAGIC "AIMCTRN1"

typedef struct saved_header {
  char magic[8];
  uint32_t model_size, epoch_size, replica_size;
  int32_t replicas, epochs;
  model_options_t model;
} saved_header_t;

static void *pack_state(const model_options_t *m, const history_t *h, size_t *len) {
  size_t ne = (size_t)h->epochs, nr = ne * (size_t)h->replicas;
  *len = sizeof(saved_header_t) + ne * sizeof(epoch_result_t) + nr * sizeof(replica_result_t);
  char *buf = calloc(1, *len);
  if (!buf) return NULL;
  saved_header_t hd;
  memset(&hd, 0, sizeof hd);
  memcpy(hd.magic, STATE_MAGIC, 8);
  hd.model_size = sizeof(model_options_t), hd.epoch_size = sizeof(epoch_result_t);
  hd.replica_size = sizeof(replica_result_t);
  hd.replicas = h->replicas, hd.epochs = h->epochs, hd.model = *m;
  memcpy(buf, &hd, sizeof hd);
  memcpy(buf + sizeof hd, h->epoch, ne * sizeof(epoch_result_t));
  memcpy(buf + sizeof hd + ne * sizeof(epoch_result_t), h->rep, nr * sizeof(replica_result_t));
  return buf;
}

/* Checks the block against the network it came with and restores the
 * options and history (history room for `epochs` in all). */
static int unpack_state(const char *path, const void *buf, size_t len, int32_t replicas,
                        int32_t epochs, model_options_t *m, history_t *h) {
  saved_header_t hd;
  if (len < sizeof hd) goto bad;
  memcpy(&hd, buf, sizeof hd);
  if (memcmp(hd.magic, STATE_MAGIC, 8) || hd.model_size != sizeof *m ||
      hd.epoch_size != sizeof(epoch_result_t) || hd.replica_size != sizeof(replica_result_t) ||
      hd.replicas != replicas || hd.epochs < 0 || hd.epochs > 100000)
    goto bad;
  size_t ne = (size_t)hd.epochs, nr = ne * (size_t)replicas;
  if (len != sizeof hd + ne * sizeof(epoch_result_t) + nr * sizeof(replica_result_t)) goto bad;
  *m = hd.model;
  if (!history_init(h, replicas, (epochs > hd.epochs ? epochs : hd.epochs))) {
    fprintf(stderr, "aimc-train: out of memory\n");
    return 2;
  }
  h->epochs = hd.epochs;
  memcpy(h->epoch, (const char *)buf + sizeof hd, ne * sizeof(epoch_result_t));
  memcpy(h->rep, (const char *)buf + sizeof hd + ne * sizeof(epoch_result_t),
         nr * sizeof(replica_result_t));
  return 0;
bad:
  fprintf(stderr, "aimc-train: %s: the network loaded but its trainer state is missing or "
                  "from another aimc-train build\n", path);
  return 2;
}

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
  int rc = unpack_state(t->opt.run.resume, buf, len, t->replicas, t->opt.run.epochs,
                        &t->opt.model, &t->hist);
  free(buf);
  return rc;
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

/* Trains on every sample once in the order of epoch e; mean loss per replica. */
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
    if (aimc_network_train_batch(t->net, t->x, t->y, nb, t->loss) != AIMC_OK)
      return fail("training");
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

static int run_epoch(trainer_t *t, int32_t e, int64_t *perm, double *loss, double later) {
  const model_options_t *m = &t->opt.model;
  float lr = options_learning_rate(m, e, t->opt.run.epochs);
  if (m->schedule != SCHEDULE_CONSTANT && aimc_network_set_learning_rate(t->net, lr) != AIMC_OK)
    return fail("setting the learning rate");
  progress_t p;
  progress_start(&p, &t->opt.run, e, t->opt.run.epochs, t->data.train.n, later);
  double start = now_seconds();
  if (train_epoch(t, e, &p, perm, loss)) return 2;
  progress_phase(&p, "testing");
  if (aimc_network_evaluate(t->net, t->test_x, t->test_y, t->data.test.n, t->opt.run.eval_batch,
                            t->correct) != AIMC_OK)
    return fail("testing");
  if (aimc_network_pulses(t->net, t->pulses, t->weights) != AIMC_OK) return fail("statistics");
  progress_end(&p);
  history_t *h = &t->hist;
  h->epoch[e].seconds = now_seconds() - start;
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
  void *buf = pack_state(&t->opt.model, &t->hist, &len);
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
  rc = make_dir(t.opt.run.out);
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
