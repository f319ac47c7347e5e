// The basic layers: Linear, GELU, LayerNorm, Embedding, Dropout, MLP.
#pragma once
#include <cstdint>

#include "engine/rng.h"
#include "nn/module.h"

namespace nn {

class Linear : public Module {
 public:
  Linear(int64_t in, int64_t out, engine::Rng& rng, bool bias = true);
  Tensor forward(const Tensor& x) const;  // (..., in) -> (..., out)
  int64_t in_features() const { return weight_.dim(1); }
  int64_t out_features() const { return weight_.dim(0); }
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }

 private:
  Tensor weight_;  // (out, in)
  Tensor bias_;    // (out), or undefined
};

class Gelu : public Module {
 public:
  Tensor forward(const Tensor& x) const;
};

class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t dim, double eps = 1e-5);
  Tensor forward(const Tensor& x) const;  // over the last axis

 private:
  Tensor gamma_, beta_;
  double eps_;
};

class Embedding : public Module {
 public:
  // Weights drawn from N(0, std^2): 1 is torch.nn.Embedding's default, 0.02 the LRA code
  // bases' (Nystromformer, MRA), the scale of their learned positional embeddings.
  Embedding(int64_t vocab, int64_t dim, engine::Rng& rng, double std = 1.0);
  Tensor forward(const Tensor& ids) const;  // int32 (...) -> (..., dim)
  const Tensor& weight() const { return weight_; }

 private:
  Tensor weight_;  // (vocab, dim)
};

// Each call draws a fresh mask seed from the module's own generator; the seed stream is part
// of the training state (checkpoints save it), so a resumed run drops the same elements.
class Dropout : public Module {
 public:
  Dropout(double p, uint64_t seed);
  Tensor forward(const Tensor& x) { return forward(x, next_seed()); }
  // For recomputed regions: draw the seed once outside, apply it (twice) inside.
  uint64_t next_seed() { return active() ? rng_.next_u64() : 0; }
  Tensor forward(const Tensor& x, uint64_t seed) const;
  bool active() const { return training() && p_ > 0; }

 private:
  double p_;
  engine::Rng rng_;
};

// Linear(in, hidden) - GELU - Linear(hidden, out).
class Mlp : public Module {
 public:
  Mlp(int64_t in, int64_t hidden, int64_t out, engine::Rng& rng);
  Tensor forward(const Tensor& x) const;

 private:
  Linear fc1_;
  Linear fc2_;
};

}  // namespace nn
