#include "ops/attention/mra_lowres.h"

#include <cmath>
#include <limits>

#include "engine/parallel.h"
#include "ops/gemm.h"

namespace ops {
namespace {

using engine::Tensor;

bool present(const BlockAttentionProblem& p, int64_t batch, int64_t token) {
  return !p.key_valid || p.key_valid[batch * p.N + token] != 0;
}

int64_t block_end(const BlockAttentionProblem& p, int64_t I) { return std::min(p.N, (I + 1) * p.block); }

// One GEMM per batch-head over (BH, ...) buffers.
GemmShape per_head(const BlockAttentionProblem& p, int64_t M, int64_t N, int64_t K, bool trans_a, bool trans_b) {
  GemmShape s;
  s.batch = p.BH;
  s.M = M;
  s.N = N;
  s.K = K;
  s.trans_a = trans_a;
  s.trans_b = trans_b;
  return s;
}

}  // namespace

template <class T>
LowResolution low_resolution(const BlockAttentionProblem& p, const T* q, const T* k, const T* v) {
  const int64_t nb = p.num_blocks(), d = p.d, B = p.BH / p.heads;
  const engine::DType dt = engine::dtype_of<T>();
  LowResolution lr{Tensor::empty({B, nb}, dt),         Tensor::empty({p.BH, nb, d}, dt),
                   Tensor::empty({p.BH, nb, d}, dt),   Tensor::empty({p.BH, nb, d}, dt),
                   Tensor::empty({p.BH, nb, nb}, dt),  Tensor::empty({p.BH, nb}, dt),
                   Tensor()};
  T* count = lr.count.data<T>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t I = 0; I < nb; ++I) {
      int64_t n = 0;
      for (int64_t i = I * p.block; i < block_end(p, I); ++i) n += present(p, b, i);
      count[b * nb + I] = static_cast<T>(n);
    }
  T* means[3] = {lr.qhat.data<T>(), lr.khat.data<T>(), lr.vhat.data<T>()};
  const T* src[3] = {q, k, v};
  engine::parallel_for(p.BH * nb, 8, [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t bh = blk / nb, I = blk % nb, batch = bh / p.heads;
      const T c = count[batch * nb + I];
      for (int x = 0; x < 3; ++x) {
        T* m = means[x] + blk * d;
        for (int64_t t = 0; t < d; ++t) m[t] = 0;
        for (int64_t i = I * p.block; i < block_end(p, I); ++i)
          if (present(p, batch, i))
            for (int64_t t = 0; t < d; ++t) m[t] += src[x][(bh * p.N + i) * d + t];
        if (c > 0)
          for (int64_t t = 0; t < d; ++t) m[t] /= c;
      }
    }
  });
  T* logits = lr.logits.data<T>();
  T* row_max = lr.row_max.data<T>();
  gemm<T>(per_head(p, nb, nb, d, false, true), means[0], means[1], logits, false);
  const T scale = static_cast<T>(p.scale), neg_inf = -std::numeric_limits<T>::infinity();
  engine::parallel_for(p.BH * nb, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t row = r0; row < r1; ++row) {
      const T* cnt = count + (row / nb / p.heads) * nb;
      T mx = neg_inf;
      for (int64_t J = 0; J < nb; ++J) {
        T& s = logits[row * nb + J];
        s = cnt[J] == 0 ? neg_inf : scale * s;
        mx = std::max(mx, s);
      }
      row_max[row] = mx;
    }
  });
  return lr;
}

template <class T>
void complement_weights(const BlockAttentionProblem& p, LowResolution& lr) {
  const int64_t nb = p.num_blocks();
  lr.weights = Tensor::empty({p.BH, nb, nb}, engine::dtype_of<T>());
  T* w = lr.weights.data<T>();
  const T *logits = lr.logits.data<T>(), *row_max = lr.row_max.data<T>(), *count = lr.count.data<T>();
  engine::parallel_for(p.BH * nb, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t row = r0; row < r1; ++row) {
      const int64_t bh = row / nb;
      const T* cnt = count + (bh / p.heads) * nb;
      for (int64_t J = 0; J < nb; ++J) {
        const T s = logits[row * nb + J];
        w[row * nb + J] = s == -std::numeric_limits<T>::infinity() ? T(0) : std::exp(s - row_max[row]) * cnt[J];
      }
      const BlockList selected = p.selection->keys_of(bh, row % nb);
      for (int64_t n = 0; n < selected.size; ++n) w[row * nb + selected.index[n]] = 0;
    }
  });
}

template <class T>
void low_resolution_complement(const BlockAttentionProblem& p, const LowResolution& lr, T* l0, T* o0) {
  const int64_t nb = p.num_blocks();
  const T* w = lr.weights.data<T>();
  gemm<T>(per_head(p, nb, p.d, nb, false, false), w, lr.vhat.data<T>(), o0, false);
  engine::parallel_for(p.BH * nb, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t row = r0; row < r1; ++row) {
      T l = 0;
      for (int64_t J = 0; J < nb; ++J) l += w[row * nb + J];
      l0[row] = l;
    }
  });
}

// Token i of block I sees the complement with weight e^(m_lr[I] - M_i) / Z_i =: a_i. With
// g_I = sum_i a_i dout_i and h_I = sum_i a_i delta_i, and W the complement weights:
//   dS_lr[I,J] = W[I,J] (g_I . v^_J - h_I),   dv^ = W^T g,
//   dq^ = scale dS_lr k^,   dk^ = scale dS_lr^T q^,
// and a block mean hands each present token 1/count of its block's gradient.
template <class T>
void low_resolution_backward(const BlockAttentionProblem& p, const LowResolution& lr, const T* dout,
                             const T* row_max, const T* inv_z, const T* delta, T* dq, T* dk, T* dv) {
  const int64_t nb = p.num_blocks(), d = p.d;
  const engine::DType dt = engine::dtype_of<T>();
  const T scale = static_cast<T>(p.scale);
  Tensor g_t = Tensor::empty({p.BH, nb, d}, dt), h_t = Tensor::empty({p.BH, nb}, dt);
  Tensor ds_t = Tensor::empty({p.BH, nb, nb}, dt), dhat_t = Tensor::empty({3, p.BH, nb, d}, dt);
  T *g = g_t.data<T>(), *h = h_t.data<T>(), *ds = ds_t.data<T>();
  T* dqhat = dhat_t.data<T>();
  T* dkhat = dqhat + p.BH * nb * d;
  T* dvhat = dkhat + p.BH * nb * d;
  const T *w = lr.weights.data<T>(), *m_lr = lr.row_max.data<T>(), *count = lr.count.data<T>();

  engine::parallel_for(p.BH * nb, 4, [&](int64_t r0, int64_t r1) {
    for (int64_t row = r0; row < r1; ++row) {
      const int64_t bh = row / nb, I = row % nb;
      T* gI = g + row * d;
      for (int64_t t = 0; t < d; ++t) gI[t] = 0;
      h[row] = 0;
      if (m_lr[row] == -std::numeric_limits<T>::infinity()) continue;
      for (int64_t i = I * p.block; i < block_end(p, I); ++i) {
        const int64_t tok = bh * p.N + i;
        if (inv_z[tok] == 0) continue;
        const T a = std::exp(m_lr[row] - row_max[tok]) * inv_z[tok];
        for (int64_t t = 0; t < d; ++t) gI[t] += a * dout[tok * d + t];
        h[row] += a * delta[tok];
      }
    }
  });
  gemm<T>(per_head(p, nb, nb, d, false, true), g, lr.vhat.data<T>(), ds, false);  // g v^T
  engine::parallel_for(p.BH * nb, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t row = r0; row < r1; ++row)
      for (int64_t J = 0; J < nb; ++J) {
        T& s = ds[row * nb + J];
        s = scale * w[row * nb + J] * (s - h[row]);  // scale folded in for dq^ and dk^
      }
  });
  gemm<T>(per_head(p, nb, d, nb, false, false), ds, lr.khat.data<T>(), dqhat, false);
  gemm<T>(per_head(p, nb, d, nb, true, false), ds, lr.qhat.data<T>(), dkhat, false);
  gemm<T>(per_head(p, nb, d, nb, true, false), w, g, dvhat, false);
  engine::parallel_for(p.BH * p.N, 256, [&](int64_t t0, int64_t t1) {
    for (int64_t tok = t0; tok < t1; ++tok) {
      const int64_t bh = tok / p.N, i = tok % p.N, batch = bh / p.heads, blk = bh * nb + i / p.block;
      if (!present(p, batch, i)) continue;
      const T inv_count = T(1) / count[batch * nb + i / p.block];
      for (int64_t t = 0; t < d; ++t) {
        dq[tok * d + t] += inv_count * dqhat[blk * d + t];
        dk[tok * d + t] += inv_count * dkhat[blk * d + t];
        dv[tok * d + t] += inv_count * dvhat[blk * d + t];
      }
    }
  });
}

#define LONGMIX_INSTANTIATE(T)                                                                                  \
  template LowResolution low_resolution<T>(const BlockAttentionProblem&, const T*, const T*, const T*);       \
  template void complement_weights<T>(const BlockAttentionProblem&, LowResolution&);                          \
  template void low_resolution_complement<T>(const BlockAttentionProblem&, const LowResolution&, T*, T*);     \
  template void low_resolution_backward<T>(const BlockAttentionProblem&, const LowResolution&, const T*,      \
                                           const T*, const T*, const T*, T*, T*, T*);
LONGMIX_INSTANTIATE(float)
LONGMIX_INSTANTIATE(double)
#undef LONGMIX_INSTANTIATE

}  // namespace ops
