// Compiles every shared per-element function of kernels/common/ as device
// code, so that CPU-only machines with nvcc catch anything the CUDA backend
// could not use (host-only library calls, missing qualifiers, C-only syntax).
// The kernels are built into a separate library that nothing links.
#include "kernels/common/io.h"
#include "kernels/common/state.h"
#include "kernels/common/update.h"

__global__ void aimc_check_common(const aimc_tile_params_t *tp, aimc_state_t st, float *out,
                                  uint32_t *words) {
  uint64_t k = blockIdx.x * (uint64_t)blockDim.x + threadIdx.x;
  aimc_wparams_t wp;
  aimc_device_sample(&tp->desc, tp->key, k, &wp);
  aimc_store_wparams(&st, k, &wp);
  aimc_load_wparams(&st, k, &wp);
  float h = aimc_device_pulse(&tp->dev, &wp, st.h[k], (int)(k & 1u), aimc_normal1(tp->key, 1, k));
  float w = 0.0f;
  aimc_write_element(tp, &wp, h, AIMC_WRITE_MODE_PROGRAM, 3, k, &h, &w);
  h = aimc_decay_element(tp, &wp, h, 2, k);
  aimc_reset_element(tp, &wp, 0.5f, 4, k, &h);
  w = aimc_refresh_visible(tp, h, wp.ref, 5, k);

  const aimc_io_params_t *io = &tp->io[AIMC_FORWARD];
  aimc_u32x4 r = aimc_io_words(tp->key, 0, 1, 6, k);
  float nl, sigma;
  aimc_io_output_constants(io, tp->key, 0, k, &nl, &sigma);
  float v = aimc_io_input(io, w, aimc_io_input_scale(1, 2.0f, 1, 4.0f), r);
  int hit = 0;
  float s = aimc_io_nm_scale(io, io->nm, 1.0f, 1.0f, 1.0f, -1.0f);
  v = aimc_io_output(io, aimc_io_weight_noise(io, v, s, r), nl, sigma, r, &hit);
  v *= aimc_io_rescale(io, 0.5f) + (float)aimc_io_bm_continue(io, 2.0f);

  aimc_blab_t b = aimc_update_blab(&tp->upd, 1.0f, v);
  aimc_make_train(tp->key, 7, k, aimc_update_prob(&tp->upd, v, b.b, 0.5f), b.bl, words + 4 * k);
  int n = aimc_coincidences(words, words + 4 * k, AIMC_TRAIN_WORDS(b.bl));
  n += aimc_implicit_count(tp->upd.pulse_type, b.bl, aimc_mean_count(b.bl, 0.3f),
                           aimc_implicit_q(&tp->upd, v, b.a, 0.1f, 0.5f));
  aimc_normal_stream_t ns;
  aimc_normal_stream_init(&ns, tp->key, 8, k << 32);
  aimc_normal_stream_seek(&ns, 3);
  out[k] = v + h + (float)n + aimc_normal_stream_next(&ns) + aimc_powf(0.5f, 1.5f) +
           (float)aimc_tile_decays(tp) + (float)aimc_device_needs_noise(&tp->dev);
}
