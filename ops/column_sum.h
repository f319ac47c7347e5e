// Deterministic, parallel sums over rows: out[c] += sum_r contribution(r)[c].
// Rows are cut into fixed chunks; each chunk sums into its own partial row and the partials
// are added in chunk order, so the result is the same for any number of threads.
// Used for bias gradients, broadcast gradients and LayerNorm's gamma/beta gradients.
#pragma once
#include <cstring>

#include "engine/parallel.h"
#include "engine/tensor.h"

namespace ops {

// row_fn(r, acc) adds row r's contribution (cols values) into acc.
template <class T, class RowFn>
void accumulate_row_contributions(int64_t rows, int64_t cols, T* out, RowFn&& row_fn) {
  constexpr int64_t kRowsPerChunk = 256;
  const int64_t chunks = engine::num_chunks(rows, kRowsPerChunk);
  if (chunks == 0) return;
  engine::Tensor partial = engine::Tensor::zeros({chunks, cols}, engine::dtype_of<T>());
  T* p = partial.data<T>();
  engine::parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t r1 = std::min(rows, (c + 1) * kRowsPerChunk);
      for (int64_t r = c * kRowsPerChunk; r < r1; ++r) row_fn(r, p + c * cols);
    }
  });
  for (int64_t c = 0; c < chunks; ++c)
    for (int64_t j = 0; j < cols; ++j) out[j] += p[c * cols + j];
}

// out[c] += sum_r x[r, c] for a row-major (rows, cols) matrix.
template <class T>
void accumulate_column_sums(int64_t rows, int64_t cols, const T* x, T* out) {
  accumulate_row_contributions<T>(rows, cols, out, [&](int64_t r, T* acc) {
    const T* row = x + r * cols;
    for (int64_t j = 0; j < cols; ++j) acc[j] += row[j];
  });
}

}  // namespace ops
