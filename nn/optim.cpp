#include "nn/optim.h"

#include <cmath>

#include "engine/check.h"
#include "engine/parallel.h"

namespace nn {
namespace {

constexpr int64_t kGrain = 1 << 14;

Tensor zeros_like(const Tensor& t) { return Tensor::zeros(t.shape(), t.dtype()); }

}  // namespace

Optimizer::Optimizer(NamedTensors params) : params_(std::move(params)) {
  for (const auto& [name, t] : params_)
    LONGMIX_CHECK(t.defined() && t.dtype() != engine::DType::i32,
                  "optimizer: parameter '" << name << "' must be a float tensor");
}

Sgd::Sgd(NamedTensors params, SgdOptions options) : Optimizer(std::move(params)), opt_(options) {
  if (opt_.momentum != 0)
    for (const auto& [name, t] : params_) velocity_[name] = zeros_like(t);
}

void Sgd::step(double lr) {
  for (auto& [name, p] : params_) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    engine::dispatch_float(p.dtype(), "sgd", [&](auto zero) {
      using T = decltype(zero);
      T* w = p.data<T>();
      const T* gp = g.data<T>();
      T* v = opt_.momentum != 0 ? velocity_.at(name).data<T>() : nullptr;
      const T mom = static_cast<T>(opt_.momentum), wd = static_cast<T>(opt_.weight_decay),
              rate = static_cast<T>(lr);
      engine::parallel_for(p.numel(), kGrain, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
          T d = gp[i] + wd * w[i];
          if (v) d = v[i] = mom * v[i] + d;
          w[i] -= rate * d;
        }
      });
    });
  }
  ++steps_;
}

NamedTensors Sgd::state() const {
  NamedTensors s;
  for (const auto& [name, v] : velocity_) s.emplace_back("momentum." + name, v);
  return s;
}

Adam::Adam(NamedTensors params, AdamOptions options) : Optimizer(std::move(params)), opt_(options) {
  for (const auto& [name, t] : params_) {
    exp_avg_[name] = zeros_like(t);
    exp_avg_sq_[name] = zeros_like(t);
  }
}

void Adam::step(double lr) {
  ++steps_;
  const double bc1 = 1 - std::pow(opt_.beta1, static_cast<double>(steps_));
  const double bc2 = 1 - std::pow(opt_.beta2, static_cast<double>(steps_));
  for (auto& [name, p] : params_) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    engine::dispatch_float(p.dtype(), "adam", [&](auto zero) {
      using T = decltype(zero);
      T* w = p.data<T>();
      const T* gp = g.data<T>();
      T* m = exp_avg_.at(name).data<T>();
      T* v = exp_avg_sq_.at(name).data<T>();
      const T b1 = static_cast<T>(opt_.beta1), b2 = static_cast<T>(opt_.beta2);
      const T step_size = static_cast<T>(lr / bc1), inv_sqrt_bc2 = static_cast<T>(1 / std::sqrt(bc2));
      const T eps = static_cast<T>(opt_.eps), wd = static_cast<T>(opt_.weight_decay);
      const T decay = static_cast<T>(1 - lr * opt_.weight_decay);
      const bool decoupled = opt_.decoupled_weight_decay;
      engine::parallel_for(p.numel(), kGrain, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
          T gi = gp[i];
          if (decoupled)
            w[i] *= decay;
          else
            gi += wd * w[i];
          m[i] = b1 * m[i] + (1 - b1) * gi;
          v[i] = b2 * v[i] + (1 - b2) * gi * gi;
          w[i] -= step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + eps);
        }
      });
    });
  }
}

NamedTensors Adam::state() const {
  NamedTensors s;
  for (const auto& [name, t] : exp_avg_) s.emplace_back("exp_avg." + name, t);
  for (const auto& [name, t] : exp_avg_sq_) s.emplace_back("exp_avg_sq." + name, t);
  return s;
}

double clip_grad_norm(const NamedTensors& params, double max_norm) {
  LONGMIX_CHECK(max_norm > 0, "clip_grad_norm: max_norm must be positive, got " << max_norm);
  double sq = 0;
  for (const auto& [name, p] : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    engine::dispatch_float(g.dtype(), "clip_grad_norm", [&](auto zero) {
      using T = decltype(zero);
      const T* gp = g.data<T>();
      for (int64_t i = 0; i < g.numel(); ++i) sq += static_cast<double>(gp[i]) * static_cast<double>(gp[i]);
    });
  }
  const double norm = std::sqrt(sq);
  if (norm > max_norm && std::isfinite(norm)) {
    const double scale = max_norm / (norm + 1e-6);
    for (const auto& [name, p] : params) {
      Tensor g = p.grad();
      if (!g.defined()) continue;
      engine::dispatch_float(g.dtype(), "clip_grad_norm", [&](auto zero) {
        using T = decltype(zero);
        T* gp = g.data<T>();
        for (int64_t i = 0; i < g.numel(); ++i) gp[i] *= static_cast<T>(scale);
      });
    }
  }
  return norm;
}

double LinearWarmupDecay::lr(int64_t step) const {
  double f = 1.0;
  if (warmup > 0 && step < warmup) f = static_cast<double>(step + 1) / static_cast<double>(warmup);
  if (decay && total > warmup && step >= warmup)
    f = static_cast<double>(total - step) / static_cast<double>(total - warmup);
  return peak * std::max(0.0, std::min(1.0, f));
}

}  // namespace nn
