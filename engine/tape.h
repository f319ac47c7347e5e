// The tape: ops append one Node each, in execution order (already a topological order), and
// backward() walks it in reverse. No graph search, no recursion, no per-scalar nodes.
//
// An op records its output, its inputs and a closure that, given the output's gradient,
// accumulates (+=) into the gradients of the inputs that need one:
//
//   engine::record("exp", out, {x}, [x, out](const Tensor& dout, Grads& g) {
//     if (g.needs(0)) exp_backward(dout, out, g.at(0));
//   });
#pragma once
#include <functional>
#include <vector>

#include "engine/tensor.h"

namespace engine {

// A gradient buffer for a kernel that writes every element of it (Grads::whole).
struct GradTarget {
  Tensor grad;
  bool accumulate = true;  // false: a fresh buffer, not zeroed: overwrite it. true: add to it.
};

class Grads {
 public:
  explicit Grads(std::vector<Tensor>& inputs) : inputs_(inputs) {}
  bool needs(int i) const { return inputs_[static_cast<size_t>(i)].requires_grad(); }
  // The gradient buffer of input i, allocated zeroed on first use; kernels accumulate into it.
  Tensor at(int i);
  // For a kernel that writes every element of input i's gradient: when input i has none yet, a
  // fresh buffer left unzeroed, to overwrite (accumulate = false); else the gradient so far, to
  // add to. Overwriting saves the zeroing pass and reading the zeros back: two of a streaming
  // backward kernel's memory passes.
  GradTarget whole(int i);
  // Adds `dout` (same element count) to input i's gradient. When input i has none yet, it takes
  // dout's buffer as a view instead of copying: only for a dout this node's output owns alone,
  // which the tape releases right after (reshape's backward).
  void add_output_grad(int i, const Tensor& dout);
  // Adds `dout` (same element count) to input i's gradient, copying it when there is none yet
  // (no zeroed buffer to add into): for a dout that something else still reads.
  void add_grad(int i, const Tensor& dout);

 private:
  std::vector<Tensor>& inputs_;
};

using BackwardFn = std::function<void(const Tensor& dout, Grads& grads)>;

// Test-only: called after every op's backward with the op's name and its input gradients, so
// a test can corrupt one op's gradient on purpose and check that gradient checking catches
// it. Empty (the default): nothing is called.
using BackwardHook = std::function<void(const char* op, Grads& grads)>;
void set_backward_hook_for_tests(BackwardHook hook);

// True when ops should record (grad mode on and some input requires a gradient).
bool grad_enabled();
bool any_requires_grad(std::initializer_list<Tensor> inputs);

// Records `out` as produced from `inputs`; a no-op under NoGradGuard or when no input
// requires a gradient. Marks `out` as requiring a gradient otherwise.
void record(const char* op, Tensor& out, std::vector<Tensor> inputs, BackwardFn backward);

// Seeds d(loss)/d(loss) = 1 (loss must have one element) and runs the tape backwards,
// accumulating into the .grad() of every leaf that requires one; then clears the tape.
void backward(const Tensor& loss);
// Same, with an explicit output gradient of the output's shape (vector-Jacobian product).
void backward(const Tensor& output, const Tensor& output_grad);

// Drops every recorded node (e.g. after an evaluation pass run with grad mode on).
void clear_tape();
size_t tape_size();

// Within its scope, ops record nothing (evaluation, optimizer updates, finite differences).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Turns grad mode back on within its scope (recomputation inside a backward pass).
class EnableGradGuard {
 public:
  EnableGradGuard();
  ~EnableGradGuard();
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace engine
