// The reference block attention: per query token, plain loops over the selected key tokens.
#include <cmath>
#include <limits>

#include "engine/parallel.h"
#include "ops/attention/block_attention.h"

namespace ops {
namespace {

inline bool present(const BlockAttentionProblem& p, int64_t bh, int64_t token) {
  return !p.key_valid || p.key_valid[(bh / p.heads) * p.N + token] != 0;
}

template <class T>
T dot(const T* a, const T* b, int64_t d) {
  T s = 0;
  for (int64_t t = 0; t < d; ++t) s += a[t] * b[t];
  return s;
}

// Calls f(j) for every present key token j that query block I attends to.
template <class F>
void for_each_key(const BlockAttentionProblem& p, int64_t bh, int64_t I, F&& f) {
  const BlockList ks = p.selection->keys_of(bh, I);
  for (int64_t n = 0; n < ks.size; ++n) {
    const int64_t j0 = ks.index[n] * p.block, j1 = std::min(p.N, j0 + p.block);
    for (int64_t j = j0; j < j1; ++j)
      if (present(p, bh, j)) f(j);
  }
}

}  // namespace

template <class T>
void block_attention_forward_ref(const BlockAttentionProblem& p, const T* q, const T* key, const T* v,
                                 const BlockStart<T>* start, T* out, T* row_max, T* inv_z) {
  const int64_t d = p.d, nb = p.num_blocks();
  const T scale = static_cast<T>(p.scale), neg_inf = -std::numeric_limits<T>::infinity();
  for (int64_t bh = 0; bh < p.BH; ++bh)
    for (int64_t i = 0; i < p.N; ++i) {
      const int64_t row = bh * p.N + i, I = i / p.block, blk = bh * nb + I;
      const T* qi = q + row * d;
      T* o = out + row * d;
      T M = start ? start->m[blk] : neg_inf;
      for_each_key(p, bh, I, [&](int64_t j) { M = std::max(M, scale * dot(qi, key + (bh * p.N + j) * d, d)); });
      if (!present(p, bh, i) || M == neg_inf) {
        for (int64_t t = 0; t < d; ++t) o[t] = 0;
        row_max[row] = 0;
        inv_z[row] = 0;
        continue;
      }
      T l = 0;
      for (int64_t t = 0; t < d; ++t) o[t] = 0;
      if (start && start->m[blk] != neg_inf) {
        const T w = std::exp(start->m[blk] - M);
        l = w * start->l[blk];
        for (int64_t t = 0; t < d; ++t) o[t] = w * start->o[blk * d + t];
      }
      for_each_key(p, bh, I, [&](int64_t j) {
        const T* kj = key + (bh * p.N + j) * d;
        const T w = std::exp(scale * dot(qi, kj, d) - M);
        l += w;
        for (int64_t t = 0; t < d; ++t) o[t] += w * v[(bh * p.N + j) * d + t];
      });
      const T iz = T(1) / (l + static_cast<T>(p.eps));
      for (int64_t t = 0; t < d; ++t) o[t] *= iz;
      row_max[row] = M;
      inv_z[row] = iz;
    }
}

// With P_ij = e^(s_ij - M_i) / Z_i and delta_i = dout_i . out_i:
//   ds_ij = P_ij (dout_i . v_j - delta_i);  dq_i += scale ds_ij k_j;  dk_j += scale ds_ij q_i;
//   dv_j += P_ij dout_i.
template <class T>
void block_attention_backward_ref(const BlockAttentionProblem& p, const T* q, const T* key, const T* v,
                                  const T* dout, const T* row_max, const T* inv_z, const T* delta, T* dq,
                                  T* dk, T* dv) {
  const int64_t d = p.d;
  const T scale = static_cast<T>(p.scale);
  for (int64_t bh = 0; bh < p.BH; ++bh)
    for (int64_t i = 0; i < p.N; ++i) {
      const int64_t row = bh * p.N + i;
      if (inv_z[row] == 0) continue;
      const T* qi = q + row * d;
      const T* gi = dout + row * d;
      for_each_key(p, bh, i / p.block, [&](int64_t j) {
        const int64_t col = bh * p.N + j;
        const T P = std::exp(scale * dot(qi, key + col * d, d) - row_max[row]) * inv_z[row];
        const T ds = scale * P * (dot(gi, v + col * d, d) - delta[row]);
        for (int64_t t = 0; t < d; ++t) {
          dq[row * d + t] += ds * key[col * d + t];
          dk[col * d + t] += ds * qi[t];
          dv[col * d + t] += P * gi[t];
        }
      });
    }
}

template <class T>
void attention_row_dots(int64_t rows, int64_t d, const T* out, const T* dout, T* delta) {
  engine::parallel_for(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(d, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) delta[r] = dot(dout + r * d, out + r * d, d);
  });
}

#define LONGMIX_INSTANTIATE(T)                                                                              \
  template void block_attention_forward_ref<T>(const BlockAttentionProblem&, const T*, const T*, const T*, \
                                               const BlockStart<T>*, T*, T*, T*);                           \
  template void block_attention_backward_ref<T>(const BlockAttentionProblem&, const T*, const T*, const T*, \
                                                const T*, const T*, const T*, const T*, T*, T*, T*);        \
  template void attention_row_dots<T>(int64_t, int64_t, const T*, const T*, T*);
LONGMIX_INSTANTIATE(float)
LONGMIX_INSTANTIATE(double)
#undef LONGMIX_INSTANTIATE

}  // namespace ops
