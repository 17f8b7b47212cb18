/* Checkpoints of networks: every bit of state in checksummed sections,
 * written atomically (temporary file, fsync, rename), verified when read.
 *
 * File: header (magic "AIMCCKPT", format, library version, struct sizes,
 * section count), then sections {tag, index, length, crc32, payload}:
 *   NETW  network description, seed, learning-rate state
 *   TILS  per layer: tile counters, seed, shape, per-tile configs and keys
 *   BLOB  per layer and state buffer: weights, device states and
 *         parameters, algorithm buffers, choppers, counters, statistics
 *   BIAS  per layer
 *   USER  the caller's block
 *   END.
 * Numbers are stored in the machine's byte order; the header's struct sizes
 * refuse files from a different build layout. */
#define _POSIX_C_SOURCE 200809L /* mkstemp, fsync, fileno */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "host/checkpoint_format.h"

static uint32_t crc_of(const void *p, size_t n) {
  return (uint32_t)crc32_z(crc32_z(0L, Z_NULL, 0), (const Bytef *)p, n);
}

uint32_t aimc_ckpt_header_crc(const file_header_t *fh) {
  return crc_of(fh, offsetof(file_header_t, header_crc));
}

/* ---- Writing -------------------------------------------------------------------- */

typedef struct writer {
  FILE *f;
  aimc_status_t status;
  const char *path;
  aimc_context_t *ctx;
} writer_t;

static void put_section(writer_t *w, uint32_t tag, uint32_t index, const void *a, size_t na,
                        const void *b, size_t nb) {
  if (w->status != AIMC_OK) return;
  section_header_t h = {tag, index, (uint64_t)(na + nb), 0, 0};
  uLong crc = crc32_z(0L, Z_NULL, 0);
  if (na) crc = crc32_z(crc, (const Bytef *)a, na);
  if (nb) crc = crc32_z(crc, (const Bytef *)b, nb);
  h.crc = (uint32_t)crc;
  if (fwrite(&h, sizeof h, 1, w->f) != 1 || (na && fwrite(a, 1, na, w->f) != na) ||
      (nb && fwrite(b, 1, nb, w->f) != nb))
    w->status = aimc_error(w->ctx, AIMC_ERR_IO, "%s: write failed (%s)", w->path, strerror(errno));
}

/* Copies a backend buffer to the host and writes it as a section. */
static void put_backend(writer_t *w, uint32_t tag, uint32_t index, const void *src, size_t n) {
  if (w->status != AIMC_OK) return;
  void *host = malloc(n ? n : 1);
  if (!host) {
    w->status = aimc_error(w->ctx, AIMC_ERR_OUT_OF_MEMORY, "out of host memory (%zu bytes)", n);
    return;
  }
  w->status = w->ctx->ops->copy(w->ctx, host, src, n, AIMC_COPY_CONTEXT_TO_HOST);
  put_section(w, tag, index, host, n, NULL, 0);
  free(host);
}

static uint32_t count_sections(const aimc_network_t *net) {
  uint32_t n = 3; /* NETW, USER, END */
  for (int32_t l = 0; l < net->desc.n_layers; ++l) {
    aimc_blob_t blobs[AIMC_MAX_BLOBS];
    n += 2u + (uint32_t)aimc_tiles_state_blobs(net->tiles[l], blobs);
  }
  return n;
}

static void write_network(writer_t *w, const aimc_network_t *net, const void *user,
                          size_t user_len) {
  file_header_t fh;
  memset(&fh, 0, sizeof fh);
  memcpy(fh.magic, AIMC_CKPT_MAGIC, 8);
  fh.format = AIMC_CKPT_FORMAT;
  fh.library_version = AIMC_VERSION;
  fh.desc_size = sizeof(aimc_network_desc_t);
  fh.config_size = sizeof(aimc_tile_config_t);
  fh.counters_size = sizeof(aimc_counters_t);
  fh.algo_state_size = sizeof(aimc_algo_state_t);
  fh.stats_size = sizeof(aimc_tile_stats_t);
  fh.n_sections = count_sections(net);
  fh.header_crc = aimc_ckpt_header_crc(&fh);
  if (fwrite(&fh, sizeof fh, 1, w->f) != 1)
    w->status = aimc_error(w->ctx, AIMC_ERR_IO, "%s: write failed (%s)", w->path, strerror(errno));
  net_record_t nr;
  memset(&nr, 0, sizeof nr);
  nr.desc = net->desc, nr.seed = net->seed, nr.lr = net->lr, nr.lr_override = net->lr_override;
  put_section(w, TAG_NETW, 0, &nr, sizeof nr, NULL, 0);
  for (int32_t l = 0; l < net->desc.n_layers; ++l) {
    const aimc_tiles_t *t = net->tiles[l];
    int64_t n = t->st.n_tiles;
    aimc_blob_t blobs[AIMC_MAX_BLOBS];
    int nb = aimc_tiles_state_blobs(t, blobs);
    tiles_record_t tr;
    memset(&tr, 0, sizeof tr);
    tr.counters = t->counters, tr.seed = t->seed, tr.n_tiles = n;
    tr.rows = t->st.rows, tr.cols = t->st.cols, tr.n_arrays = t->st.n_arrays, tr.n_blobs = nb;
    uint64_t *keys = malloc((size_t)n * sizeof *keys);
    if (!keys) {
      w->status = aimc_error(w->ctx, AIMC_ERR_OUT_OF_MEMORY, "out of host memory");
      return;
    }
    for (int64_t k = 0; k < n; ++k) keys[k] = t->hparams[k].key;
    /* configs and keys follow the record in one section */
    size_t cfg_bytes = (size_t)n * sizeof *t->configs;
    char *body = malloc(sizeof tr + cfg_bytes);
    if (body) {
      memcpy(body, &tr, sizeof tr);
      memcpy(body + sizeof tr, t->configs, cfg_bytes);
      put_section(w, TAG_TILS, (uint32_t)l, body, sizeof tr + cfg_bytes, keys,
                  (size_t)n * sizeof *keys);
    } else {
      w->status = aimc_error(w->ctx, AIMC_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    free(body);
    free(keys);
    for (int b = 0; b < nb; ++b)
      put_backend(w, TAG_BLOB, ((uint32_t)l << 16) | (uint32_t)b, blobs[b].ptr, blobs[b].bytes);
    put_backend(w, TAG_BIAS, (uint32_t)l, net->bias[l],
                (size_t)net->replicas * (size_t)net->map[l].out * sizeof(float));
  }
  put_section(w, TAG_USER, 0, user, user_len, NULL, 0);
  put_section(w, TAG_END, 0, NULL, 0, NULL, 0);
}

aimc_status_t aimc_network_save(const aimc_network_t *net, const char *path, const void *user,
                                size_t user_len) {
  if (!net) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "net is NULL");
  aimc_context_t *ctx = net->ctx;
  aimc_clear_error(ctx);
  if (!path) return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT, "path is NULL");
  if (user_len && !user)
    return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT, "user is NULL with user_len = %zu", user_len);
  size_t plen = strlen(path);
  char *tmp = malloc(plen + 16);
  if (!tmp) return aimc_error(ctx, AIMC_ERR_OUT_OF_MEMORY, "out of host memory");
  snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    aimc_status_t s = aimc_error(ctx, AIMC_ERR_IO, "%s: cannot create a temporary file beside it "
                                 "(%s)", path, strerror(errno));
    free(tmp);
    return s;
  }
  writer_t w = {fdopen(fd, "wb"), AIMC_OK, path, ctx};
  if (!w.f) {
    close(fd);
    w.status = aimc_error(ctx, AIMC_ERR_IO, "%s: cannot open (%s)", tmp, strerror(errno));
  } else {
    write_network(&w, net, user, user_len);
    if (w.status == AIMC_OK && (fflush(w.f) != 0 || fsync(fileno(w.f)) != 0))
      w.status = aimc_error(ctx, AIMC_ERR_IO, "%s: flush failed (%s)", tmp, strerror(errno));
    if (fclose(w.f) != 0 && w.status == AIMC_OK)
      w.status = aimc_error(ctx, AIMC_ERR_IO, "%s: close failed (%s)", tmp, strerror(errno));
  }
  if (w.status == AIMC_OK && rename(tmp, path) != 0)
    w.status = aimc_error(ctx, AIMC_ERR_IO, "%s: cannot rename %s into place (%s)", path, tmp,
                          strerror(errno));
  if (w.status != AIMC_OK) {
    unlink(tmp);
  } else { /* make the rename itself durable */
    char *dir = strdup(path);
    if (dir) {
      int dfd = open(dirname(dir), O_RDONLY);
      if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
      }
      free(dir);
    }
  }
  free(tmp);
  return w.status;
}

/* ---- Reading ---------------------------------------------------------------------- */

typedef struct reader {
  FILE *f;
  const char *path;
  aimc_context_t *ctx;
  uint64_t remaining; /* bytes left in the file */
  uint32_t n_sections; /* as the header announces */
} reader_t;

static aimc_status_t corrupt(reader_t *r, const char *fmt, const char *detail) {
  return aimc_error(r->ctx, AIMC_ERR_CORRUPT, fmt, r->path, detail);
}

/* Reads the next section, which must have this tag and index; its payload
 * (at most the rest of the file) is returned in *payload (malloc'd) after
 * its checksum is verified. */
static aimc_status_t get_section(reader_t *r, uint32_t tag, uint32_t index, void **payload,
                                 uint64_t *length) {
  section_header_t h;
  *payload = NULL;
  *length = 0;
  char what[96];
  if (r->remaining < sizeof h || fread(&h, sizeof h, 1, r->f) != 1)
    return corrupt(r, "%s: truncated: a section is missing (%s)", "expected more sections");
  r->remaining -= sizeof h;
  if (h.tag != tag || h.index != index || h.pad != 0) {
    snprintf(what, sizeof what, "found tag %08x index %u pad %u, expected %08x index %u pad 0",
             h.tag, h.index, h.pad, tag, index);
    return corrupt(r, "%s: sections out of order or mismatched (%s)", what);
  }
  if (h.length > r->remaining) {
    snprintf(what, sizeof what, "section of %llu bytes, %llu left", (unsigned long long)h.length,
             (unsigned long long)r->remaining);
    return corrupt(r, "%s: truncated (%s)", what);
  }
  void *p = malloc(h.length ? (size_t)h.length : 1);
  if (!p) return aimc_error(r->ctx, AIMC_ERR_OUT_OF_MEMORY, "out of host memory");
  if (h.length && fread(p, 1, (size_t)h.length, r->f) != h.length) {
    free(p);
    return corrupt(r, "%s: truncated (%s)", "short read");
  }
  r->remaining -= h.length;
  if (crc_of(p, (size_t)h.length) != h.crc) {
    free(p);
    snprintf(what, sizeof what, "section tag %08x index %u", tag, index);
    return corrupt(r, "%s: checksum mismatch in %s: the file is corrupt", what);
  }
  *payload = p;
  *length = h.length;
  return AIMC_OK;
}

/* Reads a section of exactly `bytes` bytes into the backend buffer dst,
 * after checking its content when it is a state buffer of tiles t. */
static aimc_status_t get_into(reader_t *r, uint32_t tag, uint32_t index, void *dst, size_t bytes,
                              const aimc_tiles_t *t, const aimc_blob_t *blob) {
  void *p;
  uint64_t len = 0;
  aimc_status_t s = get_section(r, tag, index, &p, &len);
  if (s != AIMC_OK) return s;
  char what[160];
  if (len != bytes) {
    free(p);
    snprintf(what, sizeof what, "section %08x index %u has %llu bytes, the network %zu", tag,
             index, (unsigned long long)len, bytes);
    return corrupt(r, "%s: does not match its network (%s)", what);
  }
  const char *why = NULL;
  if (blob && !aimc_tiles_blob_valid(t, blob, p, &why)) {
    free(p);
    snprintf(what, sizeof what, "section %08x index %u: %s", tag, index, why);
    return corrupt(r, "%s: invalid state (%s)", what);
  }
  s = r->ctx->ops->copy(r->ctx, dst, p, bytes, AIMC_COPY_HOST_TO_CONTEXT);
  free(p);
  return s;
}

static aimc_status_t read_header(reader_t *r) {
  file_header_t fh;
  if (r->remaining < sizeof fh || fread(&fh, sizeof fh, 1, r->f) != 1)
    return corrupt(r, "%s: truncated: %s", "shorter than the checkpoint header");
  r->remaining -= sizeof fh;
  if (memcmp(fh.magic, AIMC_CKPT_MAGIC, 8) != 0)
    return corrupt(r, "%s: %s", "not an aimc checkpoint (bad magic)");
  if (fh.format != AIMC_CKPT_FORMAT)
    return corrupt(r, "%s: %s", "checkpoint format version differs from this library's");
  if (fh.header_crc != aimc_ckpt_header_crc(&fh) || fh.pad != 0)
    return corrupt(r, "%s: %s", "the header checksum does not match (corrupt header)");
  if (fh.library_version > AIMC_VERSION || fh.library_version < 100) {
    char why[160];
    snprintf(why, sizeof why,
             "written by library version %u.%u.%u; this library (%s) reads checkpoints of "
             "0.1.0 up to its own version",
             fh.library_version / 10000u, fh.library_version / 100u % 100u,
             fh.library_version % 100u, aimc_version_string());
    return corrupt(r, "%s: %s", why);
  }
  if (fh.desc_size != sizeof(aimc_network_desc_t) || fh.config_size != sizeof(aimc_tile_config_t) ||
      fh.counters_size != sizeof(aimc_counters_t) || fh.algo_state_size != sizeof(aimc_algo_state_t) ||
      fh.stats_size != sizeof(aimc_tile_stats_t))
    return corrupt(r, "%s: %s", "written by a build with a different data layout");
  r->n_sections = fh.n_sections;
  return AIMC_OK;
}

/* Reads the tiles of layer l into the freshly built network. */
static aimc_status_t read_layer(reader_t *r, aimc_network_t *net, int32_t l) {
  aimc_tiles_t *t = net->tiles[l];
  int64_t n = t->st.n_tiles;
  void *p;
  uint64_t len = 0;
  aimc_status_t s = get_section(r, TAG_TILS, (uint32_t)l, &p, &len);
  if (s != AIMC_OK) return s;
  aimc_blob_t blobs[AIMC_MAX_BLOBS];
  int nb = aimc_tiles_state_blobs(t, blobs);
  size_t want = sizeof(tiles_record_t) + (size_t)n * (sizeof(aimc_tile_config_t) + sizeof(uint64_t));
  tiles_record_t tr;
  if (len != want) {
    free(p);
    return corrupt(r, "%s: layer record does not match its network (%s)", "size");
  }
  memcpy(&tr, p, sizeof tr);
  const aimc_tile_config_t *cfgs = (const aimc_tile_config_t *)((char *)p + sizeof tr);
  /* the keys follow the configs (4-byte aligned only): read them with memcpy */
  const char *keys = (const char *)cfgs + (size_t)n * sizeof *cfgs;
  int ok = tr.n_tiles == n && tr.rows == t->st.rows && tr.cols == t->st.cols &&
           tr.n_arrays == t->st.n_arrays && tr.n_blobs == nb;
  /* learning rates may have changed since creation; everything else must not */
  float *rates = malloc((size_t)n * sizeof *rates);
  for (int64_t k = 0; ok && rates && k < n; ++k) {
    aimc_tile_config_t c = cfgs[k];
    rates[k] = c.update.learning_rate;
    c.update.learning_rate = t->configs[k].update.learning_rate;
    uint64_t key;
    memcpy(&key, keys + (size_t)k * sizeof key, sizeof key);
    ok = memcmp(&c, &t->configs[k], sizeof c) == 0 && key == t->hparams[k].key;
  }
  if (!rates || !ok) {
    free(p), free(rates);
    if (!rates) return aimc_error(r->ctx, AIMC_ERR_OUT_OF_MEMORY, "out of host memory");
    return corrupt(r, "%s: layer tiles do not match the saved network (%s)", "configs or keys");
  }
  s = aimc_tiles_set_learning_rates(t, rates);
  free(rates);
  if (s != AIMC_OK) { /* a rate the configuration refuses: the file is corrupt */
    char why[AIMC_ERROR_LEN];
    snprintf(why, sizeof why, "%s", r->ctx->last_error);
    free(p);
    return aimc_error(r->ctx, AIMC_ERR_CORRUPT,
                      "%s: invalid learning rate of layer %d's tiles (%s)", r->path, (int)l, why);
  }
  t->counters = tr.counters;
  t->seed = tr.seed;
  free(p);
  for (int b = 0; b < nb && s == AIMC_OK; ++b)
    s = get_into(r, TAG_BLOB, ((uint32_t)l << 16) | (uint32_t)b, blobs[b].ptr, blobs[b].bytes, t,
                 &blobs[b]);
  aimc_blob_t bias = {net->bias[l], (size_t)net->replicas * (size_t)net->map[l].out * sizeof(float),
                      AIMC_BLOB_DIGITAL};
  if (s == AIMC_OK) s = get_into(r, TAG_BIAS, (uint32_t)l, bias.ptr, bias.bytes, t, &bias);
  return s;
}

static aimc_status_t read_network(reader_t *r, aimc_network_t **out, void *user, size_t user_cap,
                                  size_t *user_len) {
  aimc_status_t s = read_header(r);
  if (s != AIMC_OK) return s;
  void *p;
  uint64_t len = 0;
  if ((s = get_section(r, TAG_NETW, 0, &p, &len)) != AIMC_OK) return s;
  if (len != sizeof(net_record_t)) {
    free(p);
    return corrupt(r, "%s: %s", "network record of the wrong size");
  }
  net_record_t nr;
  memcpy(&nr, p, sizeof nr);
  free(p);
  /* everything the file claims is validated like a fresh description */
  aimc_network_desc_t *d = &nr.desc;
  for (int32_t q = 0; q < AIMC_MAX_SWEEPS; ++q) d->sweeps[q].field[AIMC_FIELD_LEN - 1] = '\0';
  aimc_network_t *net = NULL;
  if ((s = aimc_network_check(r->ctx, d)) != AIMC_OK) {
    char why[AIMC_ERROR_LEN];
    snprintf(why, sizeof why, "%s", r->ctx->last_error);
    return aimc_error(r->ctx, AIMC_ERR_CORRUPT, "%s: invalid network description (%s)", r->path,
                      why);
  }
  if (!(nr.lr >= 0.0f && nr.lr < 3.4e38f) || (nr.lr_override != 0 && nr.lr_override != 1))
    return corrupt(r, "%s: %s", "invalid learning-rate state");
  /* the weights alone must fit in the rest of the file: nothing is built
   * for a description the file cannot hold */
  double weight_bytes = 0.0;
  for (int32_t l = 0; l < d->n_layers; ++l)
    weight_bytes += 4.0 * aimc_network_replica_count(d) * d->layers[l].in * d->layers[l].out;
  if (weight_bytes > (double)r->remaining)
    return corrupt(r, "%s: %s", "truncated: the network it describes does not fit in the file");
  if ((s = aimc_network_build(r->ctx, d, nr.seed, &net)) != AIMC_OK) return s;
  net->lr = nr.lr;
  net->lr_override = nr.lr_override;
  if (count_sections(net) != r->n_sections)
    s = corrupt(r, "%s: %s", "the header's section count does not match the network");
  for (int32_t l = 0; l < d->n_layers && s == AIMC_OK; ++l) s = read_layer(r, net, l);
  void *block = NULL; /* the user block, handed out only when everything is read */
  uint64_t block_len = 0;
  if (s == AIMC_OK) s = get_section(r, TAG_USER, 0, &block, &block_len);
  if (s == AIMC_OK && (s = get_section(r, TAG_END, 0, &p, &len)) == AIMC_OK) free(p);
  if (s == AIMC_OK && r->remaining != 0)
    s = corrupt(r, "%s: %s", "has data after the end section");
  if (s != AIMC_OK) {
    free(block);
    aimc_network_free(net);
    return s;
  }
  if (user_len) *user_len = (size_t)block_len;
  if (user) memcpy(user, block, (size_t)block_len < user_cap ? (size_t)block_len : user_cap);
  free(block);
  *out = net;
  return AIMC_OK;
}

aimc_status_t aimc_network_load(aimc_context_t *ctx, const char *path, aimc_network_t **net,
                                void *user, size_t user_cap, size_t *user_len) {
  if (!ctx) return aimc_error(NULL, AIMC_ERR_INVALID_ARGUMENT, "ctx is NULL");
  aimc_clear_error(ctx);
  if (!path) return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT, "path is NULL");
  if (!net) return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT, "net (output pointer) is NULL");
  if (user_cap && !user)
    return aimc_error(ctx, AIMC_ERR_INVALID_ARGUMENT, "user is NULL with user_cap = %zu", user_cap);
  FILE *f = fopen(path, "rb");
  if (!f) return aimc_error(ctx, AIMC_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
  struct stat sb;
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
    fclose(f);
    return aimc_error(ctx, AIMC_ERR_IO, "%s: not a regular file", path);
  }
  reader_t r = {f, path, ctx, (uint64_t)sb.st_size, 0};
  aimc_status_t s = read_network(&r, net, user, user_cap, user_len);
  fclose(f);
  return s;
}
