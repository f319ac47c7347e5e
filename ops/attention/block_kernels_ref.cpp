// Scalar block-attention micro-kernels: the reference every SIMD variant is tested against.
#include <cmath>
#include <limits>

#include "ops/attention/block_kernels.h"

namespace ops {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

inline bool bit(uint32_t mask, int c) { return (mask >> c) & 1u; }

void scores(int rows, int64_t d, const float* a, int64_t lda, const float* packed, float scale, float* s) {
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < kTile; ++c) {
      float acc = 0.f;
      for (int64_t t = 0; t < d; ++t) acc += a[r * lda + t] * packed[t * kTile + c];
      s[r * kTile + c] = scale * acc;
    }
}

void online_softmax_cols(int rows, uint32_t valid_rows, float* s, float* m, float* l, float* alpha) {
  for (int q = 0; q < kTile; ++q) {
    float mx = m[q];
    for (int k = 0; k < rows; ++k)
      if (bit(valid_rows, k)) mx = std::max(mx, s[k * kTile + q]);
    alpha[q] = m[q] == kNegInf ? 0.f : std::exp(m[q] - mx);
    float sum = 0.f;
    for (int k = 0; k < rows; ++k) {
      float& e = s[k * kTile + q];
      e = bit(valid_rows, k) ? std::exp(e - mx) : 0.f;
      sum += e;
    }
    l[q] = alpha[q] * l[q] + sum;
    m[q] = mx;
  }
}

void accumulate(int rows, int cols, int64_t d, const float* p, const float* v, int64_t ldv, float* o, int64_t ldo) {
  for (int r = 0; r < rows; ++r)
    for (int64_t j = 0; j < d; ++j) {
      float acc = o[r * ldo + j];
      for (int c = 0; c < cols; ++c) acc += p[r * kTile + c] * v[c * ldv + j];
      o[r * ldo + j] = acc;
    }
}

void product(int rows, int cols, int64_t d, const float* p, const float* v, int64_t ldv, float* o, int64_t ldo) {
  for (int r = 0; r < rows; ++r)
    for (int64_t j = 0; j < d; ++j) {
      float acc = 0.f;
      for (int c = 0; c < cols; ++c) acc += p[r * kTile + c] * v[c * ldv + j];
      o[r * ldo + j] = acc;
    }
}

void accumulate_transposed(int rows, int cols, int64_t d, const float* p, const float* v, int64_t ldv,
                           const float* alpha, float* o, int64_t ldo) {
  for (int r = 0; r < rows; ++r)
    for (int64_t j = 0; j < d; ++j) {
      float acc = alpha ? alpha[r] * o[r * ldo + j] : o[r * ldo + j];
      for (int c = 0; c < cols; ++c) acc += p[c * kTile + r] * v[c * ldv + j];
      o[r * ldo + j] = acc;
    }
}

void dscores_by_row(int rows, uint32_t valid_cols, const float* s, const float* dp, const float* m,
                    const float* inv_z, const float* delta, float scale, float* p, float* ds) {
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < kTile; ++c) {
      const int i = r * kTile + c;
      const float prob = bit(valid_cols, c) ? std::exp(s[i] - m[r]) * inv_z[r] : 0.f;
      if (p) p[i] = prob;
      ds[i] = scale * prob * (dp[i] - delta[r]);
    }
}

void dscores_by_col(int rows, uint32_t valid_rows, int cols, const float* s, const float* dp, const float* m,
                    const float* inv_z, const float* delta, float scale, float* p, float* ds) {
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < kTile; ++c) {
      const int i = r * kTile + c;
      const bool live = bit(valid_rows, r) && c < cols;
      p[i] = live ? std::exp(s[i] - m[c]) * inv_z[c] : 0.f;
      ds[i] = live ? scale * p[i] * (dp[i] - delta[c]) : 0.f;
    }
}

}  // namespace

BlockKernels block_kernels_ref() {
  return {scores, online_softmax_cols, accumulate, product, accumulate_transposed, dscores_by_row, dscores_by_col, "ref"};
}

}  // namespace ops
