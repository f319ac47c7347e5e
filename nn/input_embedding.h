// The first layer of a sequence model: token ids through an Embedding, or continuous features
// (B, N, F) through a Linear, named "weight" (and "bias") under the owner's "embedding".
#pragma once
#include <memory>
#include <string>

#include "nn/layers.h"

namespace nn {

class InputEmbedding : public Module {
 public:
  // Exactly one of vocab and features is > 0. `model` names the owner in error messages.
  // token_std: the Embedding's initial standard deviation (see nn::Embedding).
  InputEmbedding(const std::string& model, int64_t vocab, int64_t features, int64_t dim, engine::Rng& rng,
                 double token_std = 1.0);
  Tensor forward(const Tensor& inputs) const;  // int32 (B, N) or float (B, N, F) -> (B, N, dim)

 private:
  std::string model_;
  int64_t features_;
  std::unique_ptr<Embedding> tokens_;
  std::unique_ptr<Linear> projection_;
};

}  // namespace nn
