// Batched GEMM on raw row-major buffers:  C[b] = beta * C[b] + op(A[b]) op(B[b]) (+ bias),
// beta in {0, 1} (backward passes accumulate with beta = 1). op(A) is (M, K): A is stored
// (M, K), or (K, M) when trans_a. op(B) is (K, N): B is stored (K, N), or (N, K) when trans_b.
// float32 goes through oneDNN; float64 (gradient checks) through the plain kernel.
#pragma once
#include <cstdint>
#include <type_traits>

namespace ops {

struct GemmShape {
  int64_t batch = 1, M = 0, N = 0, K = 0;
  bool trans_a = false, trans_b = false;
  // Row strides of the stored matrices; 0 means packed (the stored row length). A matrix that
  // is a column block of a wider one (a group of a grouped linear layer) passes the wider
  // row length. Batches follow each other at (stored rows) * stride.
  int64_t lda = 0, ldb = 0, ldc = 0;

  int64_t a_cols() const { return trans_a ? M : K; }  // stored row lengths
  int64_t b_cols() const { return trans_b ? K : N; }
  int64_t stride_a() const { return lda ? lda : a_cols(); }
  int64_t stride_b() const { return ldb ? ldb : b_cols(); }
  int64_t stride_c() const { return ldc ? ldc : N; }
};

// bias: N values added to every row of every C[b], or nullptr.
void onednn_sgemm(const GemmShape& s, const float* A, const float* B, float* C, bool accumulate,
                  const float* bias = nullptr);

template <class T>
void gemm_plain(const GemmShape& s, const T* A, const T* B, T* C, bool accumulate,
                const T* bias = nullptr);

template <class T>
inline void gemm(const GemmShape& s, const T* A, const T* B, T* C, bool accumulate,
                 const T* bias = nullptr) {
  if constexpr (std::is_same_v<T, float>)
    onednn_sgemm(s, A, B, C, accumulate, bias);
  else
    gemm_plain<T>(s, A, B, C, accumulate, bias);
}

}  // namespace ops
