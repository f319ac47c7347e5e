// The plain GEMM: float64 path and the reference oneDNN is tested against. Each output row
// is written by one thread, in the i-k-j order that streams B and C rows contiguously.
#include "engine/parallel.h"
#include "ops/gemm.h"

namespace ops {

template <class T>
void gemm_plain(const GemmShape& s, const T* A, const T* B, T* C, bool accumulate,
                const T* bias) {
  const int64_t rows = s.batch * s.M;
  const int64_t lda = s.stride_a(), ldb = s.stride_b(), ldc = s.stride_c();
  engine::parallel_for(rows, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / s.M, i = r % s.M;
      const T* a = A + b * (s.trans_a ? s.K : s.M) * lda;
      const T* bm = B + b * (s.trans_b ? s.N : s.K) * ldb;
      T* c = C + (b * s.M + i) * ldc;
      for (int64_t j = 0; j < s.N; ++j) c[j] = (accumulate ? c[j] : T(0)) + (bias ? bias[j] : T(0));
      for (int64_t k = 0; k < s.K; ++k) {
        const T aik = s.trans_a ? a[k * lda + i] : a[i * lda + k];
        if (s.trans_b) {
          for (int64_t j = 0; j < s.N; ++j) c[j] += aik * bm[j * ldb + k];
        } else {
          const T* brow = bm + k * ldb;
          for (int64_t j = 0; j < s.N; ++j) c[j] += aik * brow[j];
        }
      }
    }
  });
}

template void gemm_plain<float>(const GemmShape&, const float*, const float*, float*, bool,
                                const float*);
template void gemm_plain<double>(const GemmShape&, const double*, const double*, double*, bool,
                                 const double*);

}  // namespace ops
