#include "nn/input_embedding.h"

#include <cmath>

#include "engine/check.h"

namespace nn {

InputEmbedding::InputEmbedding(const std::string& model, int64_t vocab, int64_t features, int64_t dim,
                               engine::Rng& rng, double token_std)
    : model_(model), features_(features) {
  LONGMIX_CHECK((vocab > 0) != (features > 0),
                model << ": exactly one of a vocabulary or continuous input features is needed");
  LONGMIX_CHECK(token_std > 0 && std::isfinite(token_std),
                model << ": the token embedding's initial standard deviation must be > 0, got " << token_std);
  LONGMIX_CHECK(vocab > 0 || token_std == 1.0,
                model << ": a token embedding's standard deviation was given, but the inputs are continuous "
                         "features (a Linear, initialized as torch.nn.Linear)");
  // The layer's own parameters are registered here (not the layer as a child) so that they are
  // "embedding.weight" whichever kind of input the model takes.
  if (vocab > 0) {
    tokens_ = std::make_unique<Embedding>(vocab, dim, rng, token_std);
    Tensor w = tokens_->weight();
    register_parameter("weight", w);
  } else {
    projection_ = std::make_unique<Linear>(features, dim, rng);
    Tensor w = projection_->weight(), b = projection_->bias();
    register_parameter("weight", w);
    register_parameter("bias", b);
  }
}

Tensor InputEmbedding::forward(const Tensor& inputs) const {
  if (tokens_) {
    LONGMIX_CHECK(inputs.dtype() == engine::DType::i32 && inputs.ndim() == 2,
                  model_ << ": expected token ids (B, N) as int32, got " << inputs.shape());
    return tokens_->forward(inputs);
  }
  LONGMIX_CHECK(inputs.ndim() == 3 && inputs.dim(2) == features_ && inputs.dtype() != engine::DType::i32,
                model_ << ": expected float inputs (B, N, " << features_ << "), got " << inputs.shape());
  return projection_->forward(inputs);
}

}  // namespace nn
