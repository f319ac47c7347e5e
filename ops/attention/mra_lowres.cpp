#include "ops/attention/mra_lowres.h"

#include <cmath>
#include <limits>

#include "engine/parallel.h"

namespace ops {
namespace {

using engine::Tensor;

template <class T>
T dot(const T* a, const T* b, int64_t d) {
  T s = 0;
  for (int64_t t = 0; t < d; ++t) s += a[t] * b[t];
  return s;
}

bool present(const BlockAttentionProblem& p, int64_t batch, int64_t token) {
  return !p.key_valid || p.key_valid[batch * p.N + token] != 0;
}

int64_t block_end(const BlockAttentionProblem& p, int64_t I) { return std::min(p.N, (I + 1) * p.block); }

// The weight of unselected block J in query block I's complement (0 when selected or empty).
template <class T>
T complement_weight(const BlockAttentionProblem& p, const LowResolution& lr, int64_t bh, int64_t I, int64_t J) {
  const int64_t nb = p.num_blocks();
  const T s = lr.logits.data<T>()[(bh * nb + I) * nb + J];
  if (s == -std::numeric_limits<T>::infinity() || p.selection->selected(bh, I, J)) return 0;
  return std::exp(s - lr.row_max.data<T>()[bh * nb + I]) * lr.count.data<T>()[(bh / p.heads) * nb + J];
}

}  // namespace

template <class T>
LowResolution low_resolution(const BlockAttentionProblem& p, const T* q, const T* k, const T* v) {
  const int64_t nb = p.num_blocks(), d = p.d, B = p.BH / p.heads;
  const engine::DType dt = engine::dtype_of<T>();
  LowResolution lr{Tensor::empty({B, nb}, dt), Tensor::empty({p.BH, nb, d}, dt), Tensor::empty({p.BH, nb, d}, dt),
                   Tensor::empty({p.BH, nb, d}, dt), Tensor::empty({p.BH, nb, nb}, dt), Tensor::empty({p.BH, nb}, dt)};
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
  const T scale = static_cast<T>(p.scale), neg_inf = -std::numeric_limits<T>::infinity();
  engine::parallel_for(p.BH * nb, 4, [&](int64_t r0, int64_t r1) {
    for (int64_t row = r0; row < r1; ++row) {
      const int64_t bh = row / nb;
      T mx = neg_inf;
      for (int64_t J = 0; J < nb; ++J) {
        const bool empty = count[(bh / p.heads) * nb + J] == 0;
        const T s = empty ? neg_inf : scale * dot(means[0] + row * d, means[1] + (bh * nb + J) * d, d);
        logits[row * nb + J] = s;
        mx = std::max(mx, s);
      }
      row_max[row] = mx;
    }
  });
  return lr;
}

template <class T>
void low_resolution_complement(const BlockAttentionProblem& p, const LowResolution& lr, T* l0, T* o0) {
  const int64_t nb = p.num_blocks(), d = p.d;
  const T* vhat = lr.vhat.data<T>();
  engine::parallel_for(p.BH * nb, 4, [&](int64_t r0, int64_t r1) {
    for (int64_t row = r0; row < r1; ++row) {
      const int64_t bh = row / nb, I = row % nb;
      T* o = o0 + row * d;
      for (int64_t t = 0; t < d; ++t) o[t] = 0;
      T l = 0;
      for (int64_t J = 0; J < nb; ++J) {
        const T w = complement_weight<T>(p, lr, bh, I, J);
        if (w == 0) continue;
        l += w;
        for (int64_t t = 0; t < d; ++t) o[t] += w * vhat[(bh * nb + J) * d + t];
      }
      l0[row] = l;
    }
  });
}

// Token i of block I sees the complement with weight e^(m_lr[I] - M_i) / Z_i =: a_i. With
// g_I = sum_i a_i dout_i and h_I = sum_i a_i delta_i, for every unselected J of weight w:
//   dS_lr[I,J] = w (g_I . v^_J - h_I),   dv^_J += w g_I,
// then dq^_I = scale sum_J dS_lr[I,J] k^_J, dk^_J = scale sum_I dS_lr[I,J] q^_I, and a block
// mean hands each present token 1/count of its block's gradient.
template <class T>
void low_resolution_backward(const BlockAttentionProblem& p, const LowResolution& lr, const T* dout,
                             const T* row_max, const T* inv_z, const T* delta, T* dq, T* dk, T* dv) {
  const int64_t nb = p.num_blocks(), d = p.d;
  const engine::DType dt = engine::dtype_of<T>();
  const T scale = static_cast<T>(p.scale);
  Tensor g_t = Tensor::empty({p.BH, nb, d}, dt), ds_t = Tensor::empty({p.BH, nb, nb}, dt);
  Tensor dqhat_t = Tensor::empty({p.BH, nb, d}, dt), dkhat_t = Tensor::empty({p.BH, nb, d}, dt);
  Tensor dvhat_t = Tensor::empty({p.BH, nb, d}, dt);
  T *g = g_t.data<T>(), *ds = ds_t.data<T>(), *dqhat = dqhat_t.data<T>(), *dkhat = dkhat_t.data<T>(),
    *dvhat = dvhat_t.data<T>();
  const T *qhat = lr.qhat.data<T>(), *khat = lr.khat.data<T>(), *vhat = lr.vhat.data<T>();
  const T* count = lr.count.data<T>();
  const T* m_lr = lr.row_max.data<T>();

  // Per query block: g_I, h_I, the row dS_lr[I, :] and dq^_I.
  engine::parallel_for(p.BH * nb, 4, [&](int64_t r0, int64_t r1) {
    for (int64_t row = r0; row < r1; ++row) {
      const int64_t bh = row / nb, I = row % nb;
      T* gI = g + row * d;
      for (int64_t t = 0; t < d; ++t) gI[t] = 0;
      T h = 0;
      for (int64_t i = I * p.block; i < block_end(p, I); ++i) {
        const int64_t tok = bh * p.N + i;
        if (inv_z[tok] == 0 || m_lr[row] == -std::numeric_limits<T>::infinity()) continue;
        const T a = std::exp(m_lr[row] - row_max[tok]) * inv_z[tok];
        for (int64_t t = 0; t < d; ++t) gI[t] += a * dout[tok * d + t];
        h += a * delta[tok];
      }
      T* dqI = dqhat + row * d;
      for (int64_t t = 0; t < d; ++t) dqI[t] = 0;
      for (int64_t J = 0; J < nb; ++J) {
        const T w = complement_weight<T>(p, lr, bh, I, J);
        const T s = w == 0 ? T(0) : w * (dot(gI, vhat + (bh * nb + J) * d, d) - h);
        ds[row * nb + J] = s;
        for (int64_t t = 0; t < d; ++t) dqI[t] += scale * s * khat[(bh * nb + J) * d + t];
      }
    }
  });
  // Per key block: dk^_J and dv^_J, summed over query blocks in order.
  engine::parallel_for(p.BH * nb, 4, [&](int64_t c0, int64_t c1) {
    for (int64_t col = c0; col < c1; ++col) {
      const int64_t bh = col / nb, J = col % nb;
      T* dkJ = dkhat + col * d;
      T* dvJ = dvhat + col * d;
      for (int64_t t = 0; t < d; ++t) dkJ[t] = dvJ[t] = 0;
      for (int64_t I = 0; I < nb; ++I) {
        const T s = ds[(bh * nb + I) * nb + J];
        const T w = complement_weight<T>(p, lr, bh, I, J);
        if (w == 0) continue;
        for (int64_t t = 0; t < d; ++t) {
          dkJ[t] += scale * s * qhat[(bh * nb + I) * d + t];
          dvJ[t] += w * g[(bh * nb + I) * d + t];
        }
      }
    }
  });
  // Block means back to their present tokens.
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
  template void low_resolution_complement<T>(const BlockAttentionProblem&, const LowResolution&, T*, T*);     \
  template void low_resolution_backward<T>(const BlockAttentionProblem&, const LowResolution&, const T*,      \
                                           const T*, const T*, const T*, T*, T*, T*);
LONGMIX_INSTANTIATE(float)
LONGMIX_INSTANTIATE(double)
#undef LONGMIX_INSTANTIATE

}  // namespace ops
