#include "ops/paramixer/sparse_mix_chain.h"

#include <algorithm>

#include "engine/flop_counter.h"
#include "engine/parallel.h"
#include "engine/tape.h"
#include "engine/threads.h"
#include "ops/paramixer/mix_kernels.h"

namespace ops {
namespace {

using engine::Tensor;

// The three product kernels for an element type: the ISA's variant for float, the scalar
// reference for double (gradient checks).
template <class T>
struct Kernels {
  void forward(const MixDims& d, const int64_t* o, const T* w, const T* v, T* out) const {
    if constexpr (std::is_same_v<T, float>) mix_kernels().forward(d, o, w, v, true, out);
    else mix_forward_ref<T>(d, o, w, v, true, out);
  }
  void backward_w(const MixDims& d, const int64_t* o, const T* dout, const T* v, bool accumulate, T* dw) const {
    if constexpr (std::is_same_v<T, float>) mix_kernels().backward_w(d, o, dout, v, accumulate, dw);
    else mix_backward_w_ref<T>(d, o, dout, v, accumulate, dw);
  }
  void backward_v(const MixDims& d, const int64_t* o, const T* dout, const T* w, bool accumulate, T* dv) const {
    if constexpr (std::is_same_v<T, float>) mix_kernels().backward_v(d, o, dout, w, true, accumulate, dv);
    else mix_backward_v_ref<T>(d, o, dout, w, true, accumulate, dv);
  }
  // Both at once (the fused pass where the variant has one): the same bits as the two above.
  void backward_both(const MixDims& d, const int64_t* o, const T* dout, const T* v, const T* w, bool dw_accumulate,
                     T* dw, bool dv_accumulate, T* dv) const {
    if constexpr (std::is_same_v<T, float>) {
      mix_backward_both(mix_kernels(), d, o, dout, v, w, true, dw_accumulate, dw, dv_accumulate, dv);
    } else {
      backward_w(d, o, dout, v, dw_accumulate, dw);
      backward_v(d, o, dout, w, dv_accumulate, dv);
    }
  }
};

struct Chain {
  int64_t M, B, N, L, D;
  std::vector<std::vector<int64_t>> offsets;  // normalized to [0, N)
  MixDims one() const { return {1, N, L, D}; }  // one batch element
  int64_t w_at(int64_t m, int64_t b) const { return (m * B + b) * N * L; }
  int64_t row_at(int64_t b) const { return b * N * D; }
};

// Runs body(b) for every batch element: over batch elements when there are enough to keep
// every thread busy (each element's kernels then run on its one thread), else one element at
// a time with the kernels' own row-parallel loops. Each element's arithmetic is the same
// either way, so the bits do not depend on the choice or on the thread count.
template <class Body>
void for_each_element(int64_t B, Body&& body) {
  if (B >= engine::num_threads()) {
    engine::parallel_for(B, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) body(b);
    });
  } else {
    for (int64_t b = 0; b < B; ++b) body(b);
  }
}

// Element b's states V_1 .. V_{M-1} into slot (m - 1) mod `slots` of `states`, slots `stride`
// apart (of the kept (M-1, B, N, D) tensor, or of one element's scratch; slots = 2 keeps only
// the last two, enough to go on); with `out`, also the last product V_M.
template <class T>
void element_chain(const Chain& c, const Kernels<T>& k, int64_t b, const T* w, const T* v, T* states, int64_t stride,
                   int64_t slots, T* out) {
  const T* src = v + c.row_at(b);
  for (int64_t m = 0; m < c.M; ++m) {
    if (m == c.M - 1 && !out) break;
    T* dst = m == c.M - 1 ? out + c.row_at(b) : states + (m % slots) * stride;
    k.forward(c.one(), c.offsets[size_t(m)].data(), w + c.w_at(m, b), src, dst);
    src = dst;
  }
}

// kept_states: V_1 .. V_{M-1} as (M-1, B, N, D), or nullptr to keep none (each element's
// states then go through a two-slot scratch buffer).
template <class T>
void chain_forward(const Chain& c, const T* w, const T* v, T* kept_states, T* out) {
  const Kernels<T> k;
  const int64_t all_slots = std::max<int64_t>(c.M - 1, 1);
  for_each_element(c.B, [&](int64_t b) {
    if (kept_states)
      return element_chain(c, k, b, w, v, kept_states + c.row_at(b), c.B * c.N * c.D, all_slots, out);
    Tensor scratch = Tensor::empty({2, c.N, c.D}, engine::dtype_of<T>());
    element_chain(c, k, b, w, v, scratch.data<T>(), c.N * c.D, 2, out);
  });
}

// dw (M, B*N, L) and dv (B, N, D), every element written once: added to, or overwritten
// (fresh buffers); either may be null (not needed). Without kept_states each element's states
// are recomputed first (one more forward of its chain).
template <class T>
void chain_backward(const Chain& c, const T* w, const T* v, const T* kept_states, const T* dout,
                    engine::GradTarget dw_target, engine::GradTarget dv_target) {
  T* dw = dw_target.grad.defined() ? dw_target.grad.template data<T>() : nullptr;
  T* dv = dv_target.grad.defined() ? dv_target.grad.template data<T>() : nullptr;
  const Kernels<T> k;
  for_each_element(c.B, [&](int64_t b) {
    // The running gradient twice, then (when not kept) the element's M-1 states.
    Tensor scratch = Tensor::empty({kept_states ? 2 : c.M + 1, c.N, c.D}, engine::dtype_of<T>());
    T* buffers[2] = {scratch.data<T>(), scratch.data<T>() + c.N * c.D};
    const T* states = kept_states ? kept_states + c.row_at(b) : buffers[1] + c.N * c.D;
    const int64_t stride = kept_states ? c.B * c.N * c.D : c.N * c.D;
    if (!kept_states)
      element_chain(c, k, b, w, v, buffers[1] + c.N * c.D, stride, std::max<int64_t>(c.M - 1, 1), static_cast<T*>(nullptr));
    const T* grad = dout + c.row_at(b);  // d(loss)/d(V_{m+1})
    for (int64_t m = c.M - 1; m >= 0; --m) {
      const int64_t* o = c.offsets[size_t(m)].data();
      const T* input = m == 0 ? v + c.row_at(b) : states + (m - 1) * stride;
      if (m == 0 && !dv) {
        if (dw) k.backward_w(c.one(), o, grad, input, dw_target.accumulate, dw + c.w_at(m, b));
        break;
      }
      T* next = m == 0 ? dv + c.row_at(b) : buffers[m % 2];
      const bool accumulate = m == 0 && dv_target.accumulate;  // the running gradient is overwritten
      if (dw)  // identity path included in dV
        k.backward_both(c.one(), o, grad, input, w + c.w_at(m, b), dw_target.accumulate, dw + c.w_at(m, b),
                        accumulate, next);
      else
        k.backward_v(c.one(), o, grad, w + c.w_at(m, b), accumulate, next);
      grad = next;
    }
  });
}

}  // namespace

Tensor sparse_mix_chain(const Tensor& w_all, const Tensor& v, const std::vector<std::vector<int64_t>>& offsets,
                        ChainStates keep) {
  engine::check_float(w_all, "sparse_mix_chain", "w");
  engine::check_float(v, "sparse_mix_chain", "v");
  LONGMIX_CHECK(v.ndim() == 3 && w_all.ndim() == 3 && w_all.dim(1) == v.dim(0) * v.dim(1) && v.dim(1) >= 1,
                "sparse_mix_chain: w " << w_all.shape() << " vs v " << v.shape()
                                       << " (expected w (M,B*N,L) and v (B,N,D))");
  LONGMIX_CHECK(w_all.dtype() == v.dtype(), "sparse_mix_chain: w and v must share a dtype");
  LONGMIX_CHECK(static_cast<int64_t>(offsets.size()) == w_all.dim(0) && !offsets.empty(),
                "sparse_mix_chain: " << offsets.size() << " offset lists for the " << w_all.dim(0) << " factors of w "
                                     << w_all.shape());
  Chain c{w_all.dim(0), v.dim(0), v.dim(1), w_all.dim(2), v.dim(2), {}};
  for (const auto& list : offsets) {
    LONGMIX_CHECK(static_cast<int64_t>(list.size()) == c.L,
                  "sparse_mix_chain: a factor has " << list.size() << " offsets but w " << w_all.shape() << " has "
                                                    << c.L << " links");
    std::vector<int64_t> normalized(list.size());
    for (size_t k = 0; k < list.size(); ++k) normalized[k] = ((list[k] % c.N) + c.N) % c.N;
    c.offsets.push_back(std::move(normalized));
  }
  const double product_flops = 2.0 * double(c.M) * double(c.B) * double(c.N) * double(c.L) * double(c.D);
  engine::count_flops(product_flops);
  Tensor out = Tensor::empty(v.shape(), v.dtype());
  const bool kept = keep == ChainStates::keep && engine::grad_enabled() && engine::any_requires_grad({w_all, v});
  Tensor states = kept ? Tensor::empty({std::max<int64_t>(c.M - 1, 1), c.B, c.N, c.D}, v.dtype()) : Tensor();
  engine::dispatch_float(v.dtype(), "sparse_mix_chain", [&](auto zero) {
    using T = decltype(zero);
    chain_forward<T>(c, w_all.data<T>(), v.data<T>(), kept ? states.data<T>() : nullptr, out.data<T>());
  });
  engine::record("sparse_mix_chain", out, {w_all, v},
                 [w_all, v, states, c, product_flops](const Tensor& dout, engine::Grads& g) {
    engine::count_flops(product_flops * (g.needs(0) + g.needs(1)));
    engine::dispatch_float(dout.dtype(), "sparse_mix_chain", [&](auto zero) {
      using T = decltype(zero);
      chain_backward<T>(c, w_all.data<T>(), v.data<T>(), states.defined() ? states.data<T>() : nullptr, dout.data<T>(),
                        g.needs(0) ? g.whole(0) : engine::GradTarget{}, g.needs(1) ? g.whole(1) : engine::GradTarget{});
    });
  });
  return out;
}

}  // namespace ops
