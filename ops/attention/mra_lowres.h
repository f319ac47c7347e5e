// MRA-2's low resolution (SPEC 2, steps 1, 4 and their backward): block means of Q, K, V over
// present tokens, the nb x nb block logits S_lr = Q^ K^T * scale and their row maxima, the
// complement over the blocks not selected at high resolution, and the gradient back through
// all of it to the tokens. Any float type (float64 for gradient checks); the nb x nb x d
// products are batched GEMMs (ops/gemm.h), the rest is split over rows.
#pragma once
#include "engine/tensor.h"
#include "ops/attention/block_attention.h"

namespace ops {

struct LowResolution {
  engine::Tensor count;             // (B, nb) present tokens per block
  engine::Tensor qhat, khat, vhat;  // (BH, nb, d)
  engine::Tensor logits;            // (BH, nb, nb); -inf toward blocks without tokens
  engine::Tensor row_max;           // (BH, nb); -inf for a row without any
  // (BH, nb, nb) complement weights e^(S_lr[I,J] - m_lr[I]) count[J] of the blocks left to the
  // low resolution (0 for selected or empty ones); set by complement_weights once selected.
  engine::Tensor weights;
};

template <class T>
LowResolution low_resolution(const BlockAttentionProblem& p, const T* q, const T* k, const T* v);

// Fills lr.weights for the selection in p.
template <class T>
void complement_weights(const BlockAttentionProblem& p, LowResolution& lr);

// The starting state of block attention (block_attention.h) for the complement, step 4:
//   l0[I] = sum_{J not selected} e^(S_lr[I,J] - m_lr[I]) count[J],  o0[I] = the same sum of
//   weights times v^[J], m0[I] = m_lr[I].  l0 (BH, nb) and o0 (BH, nb, d) are overwritten.
template <class T>
void low_resolution_complement(const BlockAttentionProblem& p, const LowResolution& lr, T* l0, T* o0);

// Adds the complement's share of the gradient to dq, dk, dv (through S_lr, v^ and the means).
template <class T>
void low_resolution_backward(const BlockAttentionProblem& p, const LowResolution& lr, const T* dout,
                             const T* row_max, const T* inv_z, const T* delta, T* dq, T* dk, T* dv);

}  // namespace ops
