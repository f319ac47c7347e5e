#include "nn/head.h"

#include "engine/check.h"

namespace nn {

Head::Head(int64_t in, int64_t hidden, int64_t outputs, engine::Rng& rng) {
  LONGMIX_CHECK(hidden >= 0, "head: hidden width must be >= 0 (0: a linear head), got " << hidden);
  if (hidden == 0) {
    linear_ = std::make_unique<Linear>(in, outputs, rng);
    register_inline(*linear_);
  } else {
    mlp_ = std::make_unique<Mlp>(in, hidden, outputs, rng);
    register_inline(*mlp_);
  }
}

Tensor Head::forward(const Tensor& pooled) const { return linear_ ? linear_->forward(pooled) : mlp_->forward(pooled); }

}  // namespace nn
