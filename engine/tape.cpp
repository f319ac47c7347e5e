#include "engine/tape.h"

#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "engine/op_profile.h"
#include "engine/parallel.h"

namespace engine {
namespace {

struct Node {
  const char* op;
  std::weak_ptr<TensorImpl> output;  // weak: an output nobody consumes has no gradient
  std::vector<Tensor> inputs;
  BackwardFn backward;
};

struct Tape {
  std::vector<Node> nodes;
  bool grad_mode = true;
};

Tape& tape() {
  thread_local Tape t;
  return t;
}

// Storage of output gradients that backward(output, output_grad) passes on without copying
// (the caller's; nested backward calls of recomputation push theirs). Read only: no node may
// take one over as its input's gradient, which later nodes would add into.
thread_local std::vector<const Storage*> borrowed_grads;

bool is_borrowed(const Tensor& t) {
  for (const Storage* s : borrowed_grads)
    if (t.impl().storage.get() == s) return true;
  return false;
}

// dst += src, or dst = src; elementwise, so any split over threads gives the same bits.
void add_into(Tensor& dst, const Tensor& src, bool copy = false) {
  dispatch_float(dst.dtype(), "backward", [&](auto zero) {
    using T = decltype(zero);
    T* d = dst.data<T>();
    const T* s = src.data<T>();
    parallel_for(dst.numel(), int64_t{1} << 15, [&](int64_t i0, int64_t i1) {
      if (copy)
        std::memcpy(d + i0, s + i0, static_cast<size_t>(i1 - i0) * sizeof(T));
      else
        for (int64_t i = i0; i < i1; ++i) d[i] += s[i];
    });
  });
}

}  // namespace

Tensor Grads::at(int i) {
  TensorImpl& impl = inputs_[static_cast<size_t>(i)].impl();
  if (!impl.grad) impl.grad = Tensor::zeros(impl.shape, impl.dtype).impl_ptr();
  return Tensor(impl.grad);
}

GradTarget Grads::whole(int i) {
  TensorImpl& impl = inputs_[static_cast<size_t>(i)].impl();
  if (impl.grad) return {Tensor(impl.grad), true};
#ifdef LONGMIX_POISON_FRESH_GRADS
  // Sanitizer builds: NaN, so that an element a kernel leaves unwritten fails the tests.
  Tensor g = Tensor::full(impl.shape, std::numeric_limits<double>::quiet_NaN(), impl.dtype);
#else
  Tensor g = Tensor::empty(impl.shape, impl.dtype);
#endif
  impl.grad = g.impl_ptr();
  return {g, false};
}

void Grads::add_output_grad(int i, const Tensor& dout) {
  TensorImpl& impl = inputs_[static_cast<size_t>(i)].impl();
  if (is_borrowed(dout)) return add_grad(i, dout);
  if (!impl.grad && dout.dtype() == impl.dtype) {
    impl.grad = dout.reshape_view(impl.shape).impl_ptr();
    return;
  }
  Tensor g = at(i);
  add_into(g, dout);
}

void Grads::add_grad(int i, const Tensor& dout) {
  TensorImpl& impl = inputs_[static_cast<size_t>(i)].impl();
  if (!impl.grad && dout.dtype() == impl.dtype) {
    Tensor g = Tensor::empty(impl.shape, impl.dtype);
    add_into(g, dout, /*copy=*/true);
    impl.grad = g.impl_ptr();
    return;
  }
  Tensor g = at(i);
  add_into(g, dout);
}

bool grad_enabled() { return tape().grad_mode; }

bool any_requires_grad(std::initializer_list<Tensor> inputs) {
  for (const Tensor& t : inputs)
    if (t.requires_grad()) return true;
  return false;
}

static BackwardHook& backward_hook() {
  static BackwardHook hook;
  return hook;
}

void set_backward_hook_for_tests(BackwardHook hook) { backward_hook() = std::move(hook); }

void record(const char* op, Tensor& out, std::vector<Tensor> inputs, BackwardFn backward_fn) {
  Tape& t = tape();
  if (OpProfile* p = OpProfile::instance()) p->forward(op);
  if (!t.grad_mode) return;
  bool any = false;
  for (const Tensor& in : inputs) any = any || in.requires_grad();
  if (!any) return;
  out.impl().requires_grad = true;
  out.impl().produced_by_op = true;
  t.nodes.push_back(Node{op, out.impl_ptr(), std::move(inputs), std::move(backward_fn)});
}

void backward(const Tensor& loss) {
  LONGMIX_CHECK(loss.numel() == 1, "backward: the loss must have one element, got shape "
                                       << loss.shape() << " (pass an output gradient instead)");
  backward(loss, Tensor::full(loss.shape(), 1.0, loss.dtype()));
}

void backward(const Tensor& output, const Tensor& output_grad) {
  LONGMIX_CHECK(output.requires_grad(),
                "backward: the output " << output.shape()
                                        << " does not require a gradient (nothing recorded it)");
  LONGMIX_CHECK(output_grad.shape() == output.shape() && output_grad.dtype() == output.dtype(),
                "backward: output gradient " << output_grad.shape() << " "
                                             << dtype_name(output_grad.dtype()) << " vs output "
                                             << output.shape() << " "
                                             << dtype_name(output.dtype()));
  TensorImpl& root = output.impl();
  Tape& t = tape();
  // The output gradient is used in place, not copied, when only the output's producer will
  // read it: the output is an intermediate (its gradient is dropped after use) recorded by the
  // tape's last node (no later node adds into it). The product alone at N = 1024 spent 7% of
  // its time copying it.
  const bool borrow = !root.grad && root.produced_by_op && !t.nodes.empty() &&
                      t.nodes.back().output.lock().get() == &root;
  struct BorrowGuard {
    bool on;
    ~BorrowGuard() {
      if (on) borrowed_grads.pop_back();
    }
  } guard{borrow};
  if (borrow) {
    borrowed_grads.push_back(output_grad.impl().storage.get());
    root.grad = output_grad.reshape_view(output_grad.shape()).impl_ptr();
  } else if (root.grad) {
    Tensor g(root.grad);
    add_into(g, output_grad);
  } else {
    root.grad = output_grad.clone().impl_ptr();
  }

  std::vector<Node> nodes;
  nodes.swap(t.nodes);  // ops run inside backward closures must not append to this tape
  NoGradGuard no_grad;
  // Pin every output still alive: a consumer node, released below once it has run, may hold
  // the only reference to an intermediate whose gradient its producer has yet to read.
  std::vector<std::shared_ptr<TensorImpl>> outputs(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) outputs[i] = nodes[i].output.lock();
  for (size_t i = nodes.size(); i-- > 0;) {
    Node* it = &nodes[i];
    std::shared_ptr<TensorImpl> out = std::move(outputs[i]);
    if (out && out->grad) {
      const Tensor dout(out->grad);
      Grads grads(it->inputs);
      OpProfile* profile = OpProfile::instance();
      const double t0 = profile ? OpProfile::now() : 0;
      it->backward(dout, grads);
      if (backward_hook()) backward_hook()(it->op, grads);
      if (profile) profile->backward(it->op, OpProfile::now() - t0);
      if (out->produced_by_op) out->grad.reset();  // intermediate: its gradient is consumed
    }
    *it = Node{};  // release inputs and saved tensors as early as possible
  }
  if (OpProfile* p = OpProfile::instance()) p->mark();
}

void clear_tape() { tape().nodes.clear(); }
size_t tape_size() { return tape().nodes.size(); }

NoGradGuard::NoGradGuard() : previous_(tape().grad_mode) { tape().grad_mode = false; }
NoGradGuard::~NoGradGuard() { tape().grad_mode = previous_; }

EnableGradGuard::EnableGradGuard() : previous_(tape().grad_mode) { tape().grad_mode = true; }
EnableGradGuard::~EnableGradGuard() { tape().grad_mode = previous_; }

}  // namespace engine
