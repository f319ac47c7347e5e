// Scalar reference of the sparse product: the semantics every SIMD variant is tested against,
// and the float64 path of the gradient checks. No ISA flags.
#include "engine/parallel.h"
#include "ops/paramixer/mix_kernels.h"

namespace ops {

template <class T>
void mix_forward_ref(const MixDims& d, const int64_t* offsets, const T* w, const T* v, bool residual,
                     T* out) {
  engine::parallel_ranges(d.B * d.N, mix_row_grain(d), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / d.N, i = r % d.N;
      const T* vb = v + b * d.N * d.D;
      T* o = out + r * d.D;
      for (int64_t c = 0; c < d.D; ++c) o[c] = residual ? vb[i * d.D + c] : T(0);
      for (int64_t k = 0; k < d.L; ++k) {
        const T wk = w[r * d.L + k];
        const T* src = vb + mix_src(i, offsets[k], d.N) * d.D;
        for (int64_t c = 0; c < d.D; ++c) o[c] += wk * src[c];
      }
    }
  });
}

template <class T>
void mix_backward_w_ref(const MixDims& d, const int64_t* offsets, const T* dout, const T* v, bool accumulate,
                        T* dw) {
  engine::parallel_ranges(d.B * d.N, mix_row_grain(d), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / d.N, i = r % d.N;
      const T* g = dout + r * d.D;
      for (int64_t k = 0; k < d.L; ++k) {
        const T* src = v + (b * d.N + mix_src(i, offsets[k], d.N)) * d.D;
        T dot = 0;
        for (int64_t c = 0; c < d.D; ++c) dot += g[c] * src[c];
        dw[r * d.L + k] = (accumulate ? dw[r * d.L + k] : T(0)) + dot;
      }
    }
  });
}

template <class T>
void mix_backward_v_ref(const MixDims& d, const int64_t* offsets, const T* dout, const T* w,
                        bool residual, bool accumulate, T* dv) {
  engine::parallel_ranges(d.B * d.N, mix_row_grain(d), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / d.N, j = r % d.N;
      T* o = dv + r * d.D;
      if (!accumulate)
        for (int64_t c = 0; c < d.D; ++c) o[c] = 0;
      if (residual)
        for (int64_t c = 0; c < d.D; ++c) o[c] += dout[r * d.D + c];
      for (int64_t k = 0; k < d.L; ++k) {
        const int64_t s = b * d.N + mix_dst(j, offsets[k], d.N);
        const T wk = w[s * d.L + k];
        const T* g = dout + s * d.D;
        for (int64_t c = 0; c < d.D; ++c) o[c] += wk * g[c];
      }
    }
  });
}

template void mix_forward_ref<float>(const MixDims&, const int64_t*, const float*, const float*, bool, float*);
template void mix_forward_ref<double>(const MixDims&, const int64_t*, const double*, const double*, bool, double*);
template void mix_backward_w_ref<float>(const MixDims&, const int64_t*, const float*, const float*, bool, float*);
template void mix_backward_w_ref<double>(const MixDims&, const int64_t*, const double*, const double*, bool, double*);
template void mix_backward_v_ref<float>(const MixDims&, const int64_t*, const float*, const float*, bool, bool, float*);
template void mix_backward_v_ref<double>(const MixDims&, const int64_t*, const double*, const double*, bool, bool,
                                         double*);

namespace {

void link_dhidden_ref(const LinkDims& d, const float* dout, const float* w2, const float* scale, float* dh) {
  const int64_t MH = d.M * d.H;
  engine::parallel_for(d.n, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t m = 0; m < d.M; ++m) {
        float* o = dh + r * MH + m * d.H;
        for (int64_t c = 0; c < d.H; ++c) o[c] = 0;
        for (int64_t l = 0; l < d.L; ++l) {
          const float g = dout[m * d.factor_stride + r * d.L + l];
          const float* wrow = w2 + (m * d.L + l) * d.H;
          for (int64_t c = 0; c < d.H; ++c) o[c] += g * wrow[c];
        }
        for (int64_t c = 0; c < d.H; ++c) o[c] *= scale[r * MH + m * d.H + c];
      }
  });
}

void link_values_ref(const LinkDims& d, const float* h, const float* w2, const float* b2, float* out) {
  const int64_t MH = d.M * d.H;
  engine::parallel_for(d.n, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t m = 0; m < d.M; ++m)
        for (int64_t l = 0; l < d.L; ++l) {
          const float* wrow = w2 + (m * d.L + l) * d.H;
          float s = b2[m * d.L + l];
          for (int64_t c = 0; c < d.H; ++c) s += h[r * MH + m * d.H + c] * wrow[c];
          out[m * d.factor_stride + r * d.L + l] = s;
        }
  });
}

void link_weight_grad_ref(const LinkDims& d, const float* dout, const float* h, float* dw2, float* db2) {
  const int64_t MH = d.M * d.H;
  for (int64_t m = 0; m < d.M; ++m)
    for (int64_t r = 0; r < d.n; ++r)
      for (int64_t l = 0; l < d.L; ++l) {
        const float g = dout[m * d.factor_stride + r * d.L + l];
        for (int64_t c = 0; c < d.H; ++c) dw2[(m * d.L + l) * d.H + c] += g * h[r * MH + m * d.H + c];
        db2[m * d.L + l] += g;
      }
}

}  // namespace

LinkKernels link_kernels_ref() { return {link_values_ref, link_dhidden_ref, link_weight_grad_ref, "ref"}; }

MixKernels mix_kernels_ref() {
  return {mix_forward_ref<float>, mix_backward_w_ref<float>, mix_backward_v_ref<float>, nullptr, "ref"};
}

}  // namespace ops
