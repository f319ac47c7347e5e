#include "engine/checkpoint.h"

#include "engine/tape.h"

namespace engine {

Tensor checkpoint(const CheckpointFn& fn, const std::vector<Tensor>& inputs) {
  if (!grad_enabled()) return fn(inputs);
  Tensor out;
  {
    NoGradGuard no_grad;
    out = fn(inputs);
  }
  out = out.detach();  // a fresh handle: the tape owns this output's autograd state
  record("checkpoint", out, inputs, [fn, inputs](const Tensor& dout, Grads& g) {
    std::vector<Tensor> rerun_inputs;
    for (const Tensor& in : inputs) {
      Tensor d = in.detach();
      if (in.requires_grad()) d.set_requires_grad();
      rerun_inputs.push_back(d);
    }
    Tensor rerun;
    {
      EnableGradGuard with_grad;  // backward runs with grad mode off
      rerun = fn(rerun_inputs);
    }
    if (!rerun.requires_grad()) return;
    backward(rerun, dout);  // the outer walk holds its own nodes: this tape holds only the rerun
    for (size_t i = 0; i < inputs.size(); ++i) {
      const int k = static_cast<int>(i);
      if (!g.needs(k) || !rerun_inputs[i].grad().defined()) continue;
      Tensor dst = g.at(k);
      const Tensor src = rerun_inputs[i].grad();
      dispatch_float(dst.dtype(), "checkpoint", [&](auto zero) {
        using T = decltype(zero);
        T* d = dst.data<T>();
        const T* s = src.data<T>();
        for (int64_t j = 0; j < dst.numel(); ++j) d[j] += s[j];
      });
    }
  });
  return out;
}

}  // namespace engine
