#include "nn/module.h"

#include "engine/check.h"

namespace nn {

void Module::register_parameter(const std::string& name, Tensor& parameter) {
  LONGMIX_CHECK(parameter.defined(), "register_parameter: '" << name << "' is undefined");
  for (const auto& [n, t] : parameters_)
    LONGMIX_CHECK(n != name, "register_parameter: '" << name << "' is registered twice");
  parameter.set_requires_grad(true);
  parameters_.emplace_back(name, parameter);
}

void Module::register_module(const std::string& name, Module& child) {
  LONGMIX_CHECK(!name.empty(), "register_module: empty name (register_inline adopts a child's names)");
  for (const auto& [n, m] : children_)
    LONGMIX_CHECK(n != name, "register_module: '" << name << "' is registered twice");
  children_.emplace_back(name, &child);
}

void Module::register_inline(Module& child) { children_.emplace_back("", &child); }

void Module::register_rng(const std::string& name, engine::Rng& rng) { rngs_.emplace_back(name, &rng); }

std::vector<std::pair<std::string, engine::Rng*>> Module::named_rngs() const {
  std::vector<std::pair<std::string, engine::Rng*>> out(rngs_.begin(), rngs_.end());
  for (const auto& [name, child] : children_)
    for (const auto& [n, r] : child->named_rngs()) out.emplace_back(child_prefix("", name) + n, r);
  return out;
}

void Module::collect(const std::string& prefix,
                     std::vector<std::pair<std::string, Tensor>>& out) const {
  for (const auto& [name, t] : parameters_) out.emplace_back(prefix + name, t);
  for (const auto& [name, child] : children_) child->collect(child_prefix(prefix, name), out);
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters()) out.push_back(t);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

void Module::zero_grad() {
  for (auto& [name, t] : named_parameters()) t.zero_grad();
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::to(engine::DType dtype) {
  for (auto& [name, t] : named_parameters()) t.convert_in_place(dtype);
}

}  // namespace nn
