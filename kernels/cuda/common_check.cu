// Compiles every shared per-element function of kernels/common/ as device
// code, so that CPU-only machines with nvcc catch anything the CUDA backend
// could not use (host-only library calls, missing qualifiers, C-only syntax).
// The kernels are built into a separate library that nothing links.
#include "kernels/common/combine.h"
#include "kernels/common/io.h"
#include "kernels/common/mixed_precision.h"
#include "kernels/common/panther.h"
#include "kernels/common/state.h"
#include "kernels/common/stellar.h"
#include "kernels/common/transfer.h"
#include "kernels/common/update.h"

__global__ void aimc_check_common(const aimc_tile_params_t *tp, aimc_state_t st, float *out,
                                  uint32_t *words) {
  uint64_t k = blockIdx.x * (uint64_t)blockDim.x + threadIdx.x;
  aimc_wparams_t wp;
  aimc_device_sample(tp, 0, k, &wp);
  aimc_store_wparams(&st.arr[0], k, &wp);
  aimc_load_wparams(&st.arr[0], k, &wp);
  float h = aimc_device_pulse(aimc_array_dev(tp, 0), &wp, st.arr[0].h[k], (int)(k & 1u),
                              aimc_normal1(tp->key, 1, k));
  float w = 0.0f;
  aimc_write_element(tp, 0, &wp, h, AIMC_WRITE_MODE_PROGRAM, 3, k, &h, &w);
  h = aimc_decay_element(tp, 0, &wp, h, 2, k);
  aimc_reset_element(tp, 1, &wp, 0.5f, 4, k, &h);
  w = aimc_refresh_visible(tp, 0, h, wp.ref, 5, k) + aimc_combined_weight(&st, 0, 0, 0, k);
  float targets[AIMC_MAX_ARRAYS];
  aimc_array_targets(&tp->algo, w, targets);

  const aimc_io_params_t *io = &tp->io[AIMC_FORWARD];
  aimc_u32x4 rw = aimc_io_words(tp->key, 0, 1, 6, k);
  float nl, sigma;
  aimc_io_output_constants(io, tp->key, 0, k, &nl, &sigma);
  float v = aimc_io_input(io, w, aimc_io_input_scale(1, 2.0f, 1, 4.0f), rw);
  int hit = 0;
  float s = aimc_io_nm_scale(io, io->nm, 1.0f, 1.0f, 1.0f, -1.0f);
  v = aimc_io_output(io, aimc_io_weight_noise(io, v, s, rw), nl, sigma, rw, &hit);
  v *= aimc_io_rescale(io, 0.5f) + (float)aimc_io_bm_continue(io, 2.0f);

  aimc_blab_t b = aimc_update_blab(&tp->upd[0], 1.0f, v);
  aimc_make_train(tp->key, 7, k, aimc_update_prob(&tp->upd[0], v, b.b, 0.5f), b.bl, words + 4 * k);
  int n = aimc_coincidences(words, words + 4 * k, AIMC_TRAIN_WORDS(b.bl));
  n += aimc_implicit_count(tp->upd[0].pulse_type, b.bl, aimc_mean_count(b.bl, 0.3f),
                           aimc_implicit_q(&tp->upd[0], v, b.a, 0.1f, 0.5f));
  aimc_normal_stream_t ns;
  aimc_normal_stream_init(&ns, tp->key, 8, k << 32);
  aimc_normal_stream_seek(&ns, 3);
  aimc_algo_state_t as = st.algo[0];
  float hb = 0.0f, m = 0.0f, p = 0.0f;
  as.mx = aimc_auto_scale(as.mx, v, 0.99f, 8);
  n += aimc_ttv2_element(tp, v, &hb) + aimc_chopped_element(tp, v, -1.0f, 2.0f, &hb) +
       aimc_agad_element(tp, v, 1.0f, 2.0f, 1, &hb, &m, &p) +
       (int)aimc_transfer_period(&tp->algo, 8, 4, aimc_fast_states(tp)) +
       (int)aimc_chop_period(0.1f) + aimc_transfer_lines(&tp->algo, 3, 4);
  float r = aimc_fast_rate(tp, &as) + aimc_buffer_scale(tp, 0.1f, 4) +
            aimc_chopper_uniform(tp->key, 1, k, 0) + aimc_chopper_sign(&st, 0, 0, 0);
  float chi = v;
  n += aimc_mp_transfer_element(&tp->algo, &chi) + aimc_mp_rows(&tp->algo, 4) +
       (int)aimc_mp_period(&tp->algo);
  r += aimc_mp_bin(v, 2.0f, 8, 0.3f);
  int32_t arr = 0;
  int up = 0;
  aimc_stellar_pulse(aimc_stellar_error(&tp->algo, v) * aimc_stellar_input(&tp->algo, v, 1.0f),
                     k, &arr, &up);
  n += (int)aimc_panther_increment(aimc_panther_input(&tp->algo, v),
                                   aimc_panther_delta(&tp->algo, 0.1f, v, 0.5f), 1, 8, 64) +
       arr + up;
  r += aimc_panther_value(&tp->algo, targets);
  out[k] = v + h + r + (float)n + aimc_normal_stream_next(&ns) + aimc_powf(0.5f, 1.5f) +
           (float)aimc_array_decays(tp, 0) + (float)aimc_device_needs_noise(aimc_array_dev(tp, 0));
}
