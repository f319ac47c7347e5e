// Rotary position embedding (RoPE; Su et al., RoFormer, 2021) for the attention ops' layout
// (B * heads, N, d): feature pair (2i, 2i + 1) of the row at position n turns by the angle
// n * base^(-2i / d). Applied to q and k, it makes q_n . k_m a function of n - m, a relative
// position bias that learned absolute positions have to discover. Differentiable; the
// backward turns the gradient back (a rotation's inverse is its transpose).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/tensor.h"

namespace ops {

// cos and sin of every (position, pair) angle, computed once per sequence length and width.
class RotaryTable {
 public:
  RotaryTable(int64_t seq_len, int64_t head_dim, double base = 10000.0);
  int64_t seq_len() const { return seq_len_; }
  int64_t head_dim() const { return head_dim_; }
  const double* cos_row(int64_t n) const { return cos_.data() + n * (head_dim_ / 2); }
  const double* sin_row(int64_t n) const { return sin_.data() + n * (head_dim_ / 2); }

 private:
  int64_t seq_len_, head_dim_;
  std::vector<double> cos_, sin_;  // (seq_len, head_dim / 2)
};

// x (B * heads, N, d) with N and d those of the table -> x rotated, the same shape. The tape
// shares the table (its backward may run after the caller has dropped it).
engine::Tensor rotary(const engine::Tensor& x, const std::shared_ptr<const RotaryTable>& table);

}  // namespace ops
