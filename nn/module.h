// Module: a tree of named parameters. Names are dotted paths ("layers.1.mlp.0.weight"), so
// optimizers and checkpoints key their state by name, never by position.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "engine/rng.h"
#include "engine/tensor.h"

namespace nn {

using engine::Tensor;

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;  // children are registered by address: never copy or move
  Module& operator=(const Module&) = delete;

  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  std::vector<Tensor> parameters() const;
  int64_t num_parameters() const;  // total element count
  void zero_grad();
  // Random generators whose state is training state (dropout masks), by dotted name: a
  // checkpoint saves them so that a resumed run draws what the uninterrupted one would.
  std::vector<std::pair<std::string, engine::Rng*>> named_rngs() const;

  // Training mode switches dropout on; eval mode makes it the identity.
  void train(bool on = true);
  void eval() { train(false); }
  bool training() const { return training_; }

  // Converts every parameter in place (float64 for gradient checks).
  void to(engine::DType dtype);

 protected:
  // The parameter handle is shared with the caller's member, so updates are seen by both.
  void register_parameter(const std::string& name, Tensor& parameter);
  void register_module(const std::string& name, Module& child);
  // The child's parameters and generators under this module's own names, without a prefix of
  // their own (a wrapper that keeps a checkpoint's names: nn::Head's "head.weight").
  void register_inline(Module& child);
  void register_rng(const std::string& name, engine::Rng& rng);

 private:
  void collect(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out) const;
  static std::string child_prefix(const std::string& prefix, const std::string& name) {
    return name.empty() ? prefix : prefix + name + ".";  // empty: registered inline
  }
  std::vector<std::pair<std::string, Tensor>> parameters_;
  std::vector<std::pair<std::string, Module*>> children_;
  std::vector<std::pair<std::string, engine::Rng*>> rngs_;
  bool training_ = true;
};

}  // namespace nn
