/* For tests/check_ptxas.sh: a kernel that must get a stack frame (an array
 * written and read at indices known only at run time lives in local
 * memory), to show that the parser sees one. Not part of the library. */
__global__ void __launch_bounds__(256, 4) stack_fixture_kernel(const int *idx, float *out) {
  float a[64];
  for (int q = 0; q < 64; ++q) a[q] = out[q * blockDim.x + threadIdx.x];
  for (int q = 0; q < 8; ++q) a[idx[q * blockDim.x + threadIdx.x] & 63] += 1.0f;
  out[threadIdx.x] = a[idx[threadIdx.x] & 63];
}
