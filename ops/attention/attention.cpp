#include "ops/attention/attention.h"

#include <cmath>
#include <vector>

#include "engine/tape.h"
#include "ops/attention/block_attention.h"
#include "ops/attention/mra_lowres.h"
#include "ops/attention/mra_selection.h"

namespace ops {
namespace {

using engine::Tensor;

constexpr int64_t kExactBlock = 32;
constexpr double kMraEps = 1e-6;

// What one call needs beyond the tensors; kept alive by the backward closure.
struct Call {
  BlockAttentionProblem problem;
  std::shared_ptr<const BlockSelection> selection;
  std::shared_ptr<std::vector<uint8_t>> key_valid;
};

Call make_call(const char* op, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask,
               int64_t heads, int64_t block, double eps) {
  engine::check_float(q, op, "q");
  LONGMIX_CHECK(q.ndim() == 3 && k.shape() == q.shape() && v.shape() == q.shape(),
                op << ": q " << q.shape() << ", k " << k.shape() << ", v " << v.shape()
                   << " (expected three equal shapes (batch * heads, N, d))");
  LONGMIX_CHECK(k.dtype() == q.dtype() && v.dtype() == q.dtype(), op << ": q, k and v have different dtypes");
  LONGMIX_CHECK(q.dim(1) >= 1 && q.dim(2) >= 1, op << ": empty q " << q.shape());
  LONGMIX_CHECK(heads >= 1 && q.dim(0) % heads == 0,
                op << ": " << q.dim(0) << " batch-heads is not a multiple of " << heads << " heads");
  LONGMIX_CHECK(block >= 1 && block <= kTile,
                op << ": block size " << block << " is not supported (the kernels take 1 .. " << kTile << ")");
  Call c;
  const int64_t BH = q.dim(0), N = q.dim(1), d = q.dim(2);
  if (key_mask.defined()) {
    LONGMIX_CHECK(key_mask.ndim() == 2 && key_mask.dim(0) == BH / heads && key_mask.dim(1) == N,
                  op << ": key_mask " << key_mask.shape() << " does not match (batch, N) = (" << BH / heads << ", "
                     << N << ")");
    c.key_valid = std::make_shared<std::vector<uint8_t>>(static_cast<size_t>(key_mask.numel()));
    const std::vector<double> m = key_mask.to_vector();
    for (size_t i = 0; i < m.size(); ++i) (*c.key_valid)[i] = m[i] != 0;
  }
  c.problem = {BH, heads, N, d, block, 1.0 / std::sqrt(static_cast<double>(d)), eps, nullptr,
               c.key_valid ? c.key_valid->data() : nullptr};
  return c;
}

// Runs block attention (with MRA-2's complement when `lr` is given), records its backward.
Tensor run(const char* op, const Tensor& q, const Tensor& k, const Tensor& v, Call call,
           std::shared_ptr<const LowResolution> lr) {
  call.problem.selection = call.selection.get();
  const BlockAttentionProblem& p = call.problem;
  const int64_t nb = p.num_blocks();
  Tensor out = Tensor::empty(q.shape(), q.dtype());
  Tensor row_max = Tensor::empty({p.BH, p.N}, q.dtype()), inv_z = Tensor::empty({p.BH, p.N}, q.dtype());
  engine::dispatch_float(q.dtype(), op, [&](auto zero) {
    using T = decltype(zero);
    Tensor l0, o0;
    BlockStart<T> start{};
    if (lr) {
      l0 = Tensor::empty({p.BH, nb}, q.dtype());
      o0 = Tensor::empty({p.BH, nb, p.d}, q.dtype());
      low_resolution_complement<T>(p, *lr, l0.data<T>(), o0.data<T>());
      start = {lr->row_max.data<T>(), l0.data<T>(), o0.data<T>()};
    }
    if constexpr (std::is_same_v<T, float>)
      block_attention_forward(p, block_kernels(), q.data<T>(), k.data<T>(), v.data<T>(), lr ? &start : nullptr,
                              out.data<T>(), row_max.data<T>(), inv_z.data<T>());
    else
      block_attention_forward_ref<T>(p, q.data<T>(), k.data<T>(), v.data<T>(), lr ? &start : nullptr,
                                     out.data<T>(), row_max.data<T>(), inv_z.data<T>());
  });
  const Tensor saved_out = out.detach();
  engine::record(op, out, {q, k, v}, [=](const Tensor& dout, engine::Grads& g) {
    Tensor grads[3];
    for (int i = 0; i < 3; ++i) grads[i] = g.needs(i) ? g.at(i) : Tensor::zeros(q.shape(), q.dtype());
    engine::dispatch_float(dout.dtype(), op, [&](auto zero) {
      using T = decltype(zero);
      Tensor delta = Tensor::empty({p.BH, p.N}, dout.dtype());
      attention_row_dots<T>(p.BH * p.N, p.d, saved_out.data<T>(), dout.data<T>(), delta.data<T>());
      T* dq = grads[0].data<T>();
      T* dk = grads[1].data<T>();
      T* dv = grads[2].data<T>();
      if constexpr (std::is_same_v<T, float>)
        block_attention_backward(p, block_kernels(), q.data<T>(), k.data<T>(), v.data<T>(), dout.data<T>(),
                                 row_max.data<T>(), inv_z.data<T>(), delta.data<T>(), dq, dk, dv);
      else
        block_attention_backward_ref<T>(p, q.data<T>(), k.data<T>(), v.data<T>(), dout.data<T>(),
                                        row_max.data<T>(), inv_z.data<T>(), delta.data<T>(), dq, dk, dv);
      if (lr)
        low_resolution_backward<T>(p, *lr, dout.data<T>(), row_max.data<T>(), inv_z.data<T>(), delta.data<T>(), dq,
                                   dk, dv);
    });
    (void)call;  // keeps the selection and the mask alive for `p`
  });
  return out;
}

std::shared_ptr<LowResolution> low_resolution_of(const Call& c, const Tensor& q, const Tensor& k, const Tensor& v) {
  return engine::dispatch_float(q.dtype(), "mra_attention", [&](auto zero) {
    using T = decltype(zero);
    return std::make_shared<LowResolution>(low_resolution<T>(c.problem, q.data<T>(), k.data<T>(), v.data<T>()));
  });
}

std::shared_ptr<const BlockSelection> select(const Call& c, const LowResolution& lr, const MraOptions& o) {
  LONGMIX_CHECK(o.blocks_per_row >= 1 && o.prior_first >= 0 && o.prior_diagonal >= 0,
                "mra_attention: blocks_per_row must be >= 1 and the priors >= 0 (got " << o.blocks_per_row << ", "
                                                                                         << o.prior_first << ", "
                                                                                         << o.prior_diagonal << ")");
  const MraSelectionRule rule{o.blocks_per_row, o.prior_first, o.prior_diagonal};
  return engine::dispatch_float(lr.logits.dtype(), "mra_attention", [&](auto zero) {
    using T = decltype(zero);
    return std::make_shared<const BlockSelection>(select_mra_blocks<T>(c.problem, lr, rule));
  });
}

}  // namespace

Tensor softmax_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask, int64_t heads) {
  Call call = make_call("softmax_attention", q, k, v, key_mask, heads, kExactBlock, 0.0);
  call.selection = std::make_shared<const BlockSelection>(
      BlockSelection::every_block(call.problem.BH, call.problem.num_blocks()));
  return run("softmax_attention", q, k, v, std::move(call), nullptr);
}

Tensor mra_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask,
                     const MraOptions& options, std::shared_ptr<const BlockSelection> fixed) {
  Call call = make_call("mra_attention", q, k, v, key_mask, options.heads, options.block, kMraEps);
  std::shared_ptr<LowResolution> lr = low_resolution_of(call, q, k, v);
  if (fixed) {
    LONGMIX_CHECK(fixed->BH == call.problem.BH && fixed->nb == call.problem.num_blocks(),
                  "mra_attention: the fixed selection is for " << fixed->BH << " batch-heads x " << fixed->nb
                                                               << " blocks, the input has " << call.problem.BH
                                                               << " x " << call.problem.num_blocks());
    call.selection = std::move(fixed);
  } else {
    call.selection = select(call, *lr, options);
  }
  if (!options.full) return run("mra_attention", q, k, v, std::move(call), nullptr);
  call.problem.selection = call.selection.get();
  engine::dispatch_float(q.dtype(), "mra_attention", [&](auto zero) {
    complement_weights<decltype(zero)>(call.problem, *lr);
  });
  return run("mra_attention", q, k, v, std::move(call), lr);
}

std::shared_ptr<const BlockSelection> mra_selection(const Tensor& q, const Tensor& k, const Tensor& v,
                                                    const Tensor& key_mask, const MraOptions& options) {
  const Call call = make_call("mra_attention", q, k, v, key_mask, options.heads, options.block, kMraEps);
  return select(call, *low_resolution_of(call, q, k, v), options);
}

}  // namespace ops
