#include "ops/paramixer/factor_mlp.h"

#include <algorithm>
#include <cstring>

#include "engine/parallel.h"
#include "engine/tape.h"
#include "ops/gelu_kernels.h"
#include "ops/gemm.h"
#include "ops/paramixer/mix_kernels.h"
#include "ops/shape_ops.h"

namespace ops {
namespace {

using engine::Tensor;

struct FactorDims {
  int64_t R, D, M, H, L;
  int64_t MH() const { return M * H; }
  // Rows per chunk: a chunk's hidden layer (chunk x M*H, ~384 KB) and, in backward, its three
  // such buffers stay in the L2 cache of the core that owns the chunk; and at least 64 chunks
  // when rows allow, so that threads get equal shares (a narrow MLP, M*H = 32, would
  // otherwise make 11 chunks of 3072 rows at R = 32768).
  int64_t chunk() const {
    const int64_t cache_rows = (int64_t{96} << 10) / std::max<int64_t>(MH(), 1);
    return std::clamp<int64_t>(std::min(cache_rows, (R + 63) / 64), 16, 4096);
  }
  int64_t chunks() const { return (R + chunk() - 1) / chunk(); }
  // Backward's weight-gradient partials: one per group of consecutive chunks, summed in group
  // order at the end. Fixed by the shapes, so the sums never depend on the thread count. Up to
  // 64 groups, all non-empty (R = 32768: 54 groups of 2 chunks), so that threads taking equal
  // numbers of groups get equal work: with 32 groups of 4 chunks, 5 were empty and 2 threads
  // split the work 16 : 11.
  int64_t chunks_per_group() const { return (chunks() + 63) / 64; }
  int64_t groups() const { return (chunks() + chunks_per_group() - 1) / chunks_per_group(); }
  int64_t partial_size() const { return MH() * D + MH() + M * L * H + M * L; }  // dw1, db1, dw2, db2
};

FactorDims dims_or_throw(const Tensor& x, const Tensor& w1, const Tensor& b1, const Tensor& w2,
                         const Tensor& b2) {
  for (const Tensor* t : {&x, &w1, &b1, &w2, &b2}) engine::check_float(*t, "factor_mlp", "input");
  LONGMIX_CHECK(x.ndim() == 2 && w1.ndim() == 2 && b1.ndim() == 1 && w2.ndim() == 3 && b2.ndim() == 2 &&
                    w1.dim(1) == x.dim(1) && w1.dim(0) == w2.dim(0) * w2.dim(2) &&
                    b1.dim(0) == w1.dim(0) && b2.dim(0) == w2.dim(0) && b2.dim(1) == w2.dim(1),
                "factor_mlp: x " << x.shape() << ", w1 " << w1.shape() << ", b1 " << b1.shape() << ", w2 "
                                 << w2.shape() << ", b2 " << b2.shape()
                                 << " do not match (expected x (R,D), w1 (M*H,D), b1 (M*H), w2 (M,L,H), b2 (M,L))");
  for (const Tensor* t : {&w1, &b1, &w2, &b2})
    LONGMIX_CHECK(t->dtype() == x.dtype(), "factor_mlp: all inputs must share x's dtype");
  return {x.dim(0), x.dim(1), w2.dim(0), w2.dim(2), w2.dim(1)};
}

// pre = x[r0:r0+n] @ w1^T + b1   (n, M*H)
template <class T>
void first_layer(const FactorDims& d, int64_t r0, int64_t n, const T* x, const T* w1, const T* b1, T* pre) {
  gemm<T>({1, n, d.MH(), d.D, false, true}, x + r0 * d.D, w1, pre, false, b1);
}

// out[m, r0 .. r0+n) = h[:, block m] @ w2[m]^T + b2[m]. float32: the link-head kernel;
// float64 (gradient checks): one GEMM per factor.
template <class T>
void second_layer(const FactorDims& d, int64_t r0, int64_t n, const T* h, const T* w2, const T* b2, T* out) {
  if constexpr (std::is_same_v<T, float>) {
    link_kernels().values({n, d.M, d.H, d.L, d.R * d.L}, h, w2, b2, out + r0 * d.L);
  } else {
    for (int64_t m = 0; m < d.M; ++m) {
      GemmShape s{1, n, d.L, d.H, false, true};
      s.lda = d.MH();
      gemm<T>(s, h + m * d.H, w2 + m * d.L * d.H, out + (m * d.R + r0) * d.L, false, b2 + m * d.L);
    }
  }
}

// dpre[:, block m] = gelu'(pre) * (dout[m, r0 .. r0+n) @ w2[m])  (overwrites dpre).
// float32: the link-head kernel, which applies gelu' as it stores.
template <class T>
void second_layer_dpre(const FactorDims& d, int64_t r0, int64_t n, const T* dout, const T* w2,
                       const T* gelu_grad, T* dpre) {
  if constexpr (std::is_same_v<T, float>) {
    link_kernels().dhidden({n, d.M, d.H, d.L, d.R * d.L}, dout + r0 * d.L, w2, gelu_grad, dpre);
  } else {
    for (int64_t m = 0; m < d.M; ++m) {
      GemmShape s{1, n, d.H, d.L, false, false};
      s.ldc = d.MH();
      gemm<T>(s, dout + (m * d.R + r0) * d.L, w2 + m * d.L * d.H, dpre + m * d.H, false);
    }
    for (int64_t i = 0; i < n * d.MH(); ++i) dpre[i] *= gelu_grad[i];
  }
}

// out[j] += sum over n rows of x[r, j], the rows added in order into a register block of
// columns first (one thread's partial). Adding each row straight into out stored every column
// once per row: 2% of a training step at N = 1024.
template <class T>
void add_rows(int64_t n, int64_t cols, const T* x, T* out) {
  constexpr int64_t kBlock = 16;
  int64_t j0 = 0;
  for (; j0 + kBlock <= cols; j0 += kBlock) {
    T sum[kBlock] = {};
    for (int64_t r = 0; r < n; ++r)
      for (int64_t j = 0; j < kBlock; ++j) sum[j] += x[r * cols + j0 + j];
    for (int64_t j = 0; j < kBlock; ++j) out[j0 + j] += sum[j];
  }
  for (; j0 < cols; ++j0) {
    T sum = 0;
    for (int64_t r = 0; r < n; ++r) sum += x[r * cols + j0];
    out[j0] += sum;
  }
}

// dw2[m] += dout[m, r0 .. r0+n)^T @ h[:, block m] and db2[m] += its rows' sum, for every
// factor (this group's partials). float32: the link-head kernel.
template <class T>
void second_layer_weight_grads(const FactorDims& d, int64_t r0, int64_t n, const T* dout, const T* h, T* dw2,
                               T* db2) {
  if constexpr (std::is_same_v<T, float>) {
    link_kernels().weight_grad({n, d.M, d.H, d.L, d.R * d.L}, dout + r0 * d.L, h, dw2, db2);
  } else {
    for (int64_t m = 0; m < d.M; ++m) {
      const T* dout_m = dout + (m * d.R + r0) * d.L;  // (n, L)
      GemmShape s_w{1, d.L, d.H, n, true, false};
      s_w.ldb = d.MH();
      gemm<T>(s_w, dout_m, h + m * d.H, dw2 + m * d.L * d.H, true);
      add_rows<T>(n, d.L, dout_m, db2 + m * d.L);
    }
  }
}

// Each chunk is one thread's from start to end (its GEMMs run single-threaded inside this
// parallel loop), so its hidden layer never leaves that core's cache.
template <class T>
void forward(const FactorDims& d, const T* x, const T* w1, const T* b1, const T* w2, const T* b2, T* out) {
  engine::parallel_for(d.chunks(), 1, [&](int64_t c0, int64_t c1) {
    Tensor scratch = Tensor::empty({d.chunk(), d.MH()}, engine::dtype_of<T>());
    T* h = scratch.data<T>();
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t r0 = c * d.chunk(), n = std::min(d.chunk(), d.R - r0);
      first_layer(d, r0, n, x, w1, b1, h);
      gelu_forward(n * d.MH(), h, h);
      second_layer(d, r0, n, h, w2, b2, out);
    }
  });
}

// The chunks of rows [r_begin, r_end): dx rows written directly (owned; added to, or
// overwritten when dx is a fresh buffer), weight gradients accumulated into this group's
// partial (dw1, db1, dw2, db2 laid end to end).
template <class T>
void backward_group(const FactorDims& d, int64_t r_begin, int64_t r_end, const T* dout, const T* x, const T* w1,
                    const T* b1, const T* w2, T* dx, bool dx_accumulate, T* partial) {
  const int64_t C = d.chunk(), MH = d.MH();
  Tensor buffers = Tensor::empty({3, C, MH}, engine::dtype_of<T>());
  T *pre = buffers.data<T>(), *h = pre + C * MH, *dh = h + C * MH;
  T *dw1 = partial, *db1 = dw1 + MH * d.D, *dw2 = db1 + MH, *db2 = dw2 + d.M * d.L * d.H;
  for (int64_t r0 = r_begin; r0 < r_end; r0 += C) {
    const int64_t n = std::min(C, r_end - r0);
    first_layer(d, r0, n, x, w1, b1, pre);           // recomputed, not stored
    gelu_value_and_derivative(n * MH, pre, h, pre);  // h = gelu(pre); pre <- gelu'(pre)
    second_layer_dpre(d, r0, n, dout, w2, pre, dh);  // dh now holds d(loss)/d(pre)
    second_layer_weight_grads(d, r0, n, dout, h, dw2, db2);
    gemm<T>({1, MH, d.D, n, true, false}, dh, x + r0 * d.D, dw1, true);
    add_rows<T>(n, MH, dh, db1);
    if (dx) gemm<T>({1, n, d.D, MH, false, false}, dh, w1, dx + r0 * d.D, dx_accumulate);
  }
}

template <class T>
void backward(const FactorDims& d, const T* dout, const T* x, const T* w1, const T* b1, const T* w2,
              engine::Grads& g) {
  const int64_t groups = d.groups(), rows_per_group = d.chunks_per_group() * d.chunk(), P = d.partial_size();
  Tensor partials = Tensor::zeros({groups, P}, engine::dtype_of<T>());
  engine::GradTarget dx = g.needs(0) ? g.whole(0) : engine::GradTarget{};
  T* dx_data = dx.grad.defined() ? dx.grad.data<T>() : nullptr;
  engine::parallel_for(groups, 1, [&](int64_t g0, int64_t g1) {
    for (int64_t grp = g0; grp < g1; ++grp) {
      const int64_t r_begin = std::min(d.R, grp * rows_per_group), r_end = std::min(d.R, r_begin + rows_per_group);
      backward_group(d, r_begin, r_end, dout, x, w1, b1, w2, dx_data, dx.accumulate, partials.data<T>() + grp * P);
    }
  });
  // The groups' partials summed in group order, then each part added to its parameter's
  // gradient. Each element's sum is in group order whoever computes it, so threads split the
  // elements (serially, this pass, an estimated 0.1-0.2 ms per layer at R = 32768, left the
  // other core waiting).
  T* total = partials.data<T>();
  engine::parallel_for(P, 2048, [&](int64_t e0, int64_t e1) {
    for (int64_t grp = 1; grp < groups; ++grp)
      for (int64_t e = e0; e < e1; ++e) total[e] += total[grp * P + e];
  });
  const int64_t sizes[4] = {d.MH() * d.D, d.MH(), d.M * d.L * d.H, d.M * d.L};
  int64_t at = 0;
  for (int i = 0; i < 4; at += sizes[i], ++i) {
    if (!g.needs(i + 1)) continue;
    T* grad = g.at(i + 1).data<T>();
    for (int64_t e = 0; e < sizes[i]; ++e) grad[e] += total[at + e];
  }
}

}  // namespace

namespace {

// The op itself, recorded on the tape under `op` (factor_mlp or gelu_mlp: profiles and hooks
// tell Paramixer's factor MLPs from its g).
Tensor stacked_mlp(const char* op, const Tensor& x, const Tensor& w1, const Tensor& b1, const Tensor& w2,
                   const Tensor& b2) {
  const FactorDims d = dims_or_throw(x, w1, b1, w2, b2);
  Tensor out = Tensor::empty({d.M, d.R, d.L}, x.dtype());
  engine::dispatch_float(x.dtype(), op, [&](auto zero) {
    using T = decltype(zero);
    forward<T>(d, x.data<T>(), w1.data<T>(), b1.data<T>(), w2.data<T>(), b2.data<T>(), out.data<T>());
  });
  engine::record(op, out, {x, w1, b1, w2, b2}, [op, d, x, w1, b1, w2](const Tensor& dout, engine::Grads& g) {
    engine::dispatch_float(dout.dtype(), op, [&](auto zero) {
      using T = decltype(zero);
      backward<T>(d, dout.data<T>(), x.data<T>(), w1.data<T>(), b1.data<T>(), w2.data<T>(), g);
    });
  });
  return out;
}

}  // namespace

Tensor factor_mlp(const Tensor& x, const Tensor& w1, const Tensor& b1, const Tensor& w2, const Tensor& b2) {
  return stacked_mlp("factor_mlp", x, w1, b1, w2, b2);
}

Tensor gelu_mlp(const Tensor& x, const Tensor& w1, const Tensor& b1, const Tensor& w2, const Tensor& b2) {
  LONGMIX_CHECK(x.ndim() >= 1 && w1.ndim() == 2 && b1.ndim() == 1 && w2.ndim() == 2 && b2.ndim() == 1 &&
                    w1.dim(1) == x.dim(-1) && b1.dim(0) == w1.dim(0) && w2.dim(1) == w1.dim(0) &&
                    b2.dim(0) == w2.dim(0),
                "gelu_mlp: x " << x.shape() << ", w1 " << w1.shape() << ", b1 " << b1.shape() << ", w2 "
                               << w2.shape() << ", b2 " << b2.shape()
                               << " do not match (expected x (..., D), w1 (H, D), b1 (H), w2 (L, H), b2 (L))");
  const int64_t L = w2.dim(0), H = w2.dim(1);
  std::vector<int64_t> out_dims(x.shape().begin(), x.shape().end());
  out_dims.back() = L;
  const Tensor y =
      stacked_mlp("gelu_mlp", reshape(x, {-1, x.dim(-1)}), w1, b1, reshape(w2, {1, L, H}), reshape(b2, {1, L}));
  return reshape(y, out_dims);
}

}  // namespace ops
