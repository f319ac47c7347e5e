// Masked-token self-pretraining (--pretrain masked-tokens): the model learns the task's own
// training inputs by restoring tokens hidden from it (BERT's denoising objective; "Never Train
// from Scratch", Amos et al. 2024, found it lifts ListOps far above training from scratch).
// A classifier then starts from those parameters (train --init-from CHECKPOINT).
//
// Of the real (unpadded) positions, each is chosen with probability --mask-rate; a chosen
// token becomes the task's padding token (which no real position otherwise holds: the mask
// token; so the task must pad, as ListOps does) 80% of the time, a uniformly drawn other token
// 10%, and stays 10%; the model predicts the original at every chosen position. The choice is a function of (seed, split, the
// batch's first example), so evaluation sees the same masks every time and a resumed run the
// same as an uninterrupted one.
#pragma once
#include <cstdint>

#include "apps/flags.h"
#include "apps/tasks/task.h"

namespace apps {

struct Pretraining {
  bool masked_tokens = false;
  double mask_rate = 0.15;
  uint64_t seed = 0;
};

void add_pretraining_flags(Flags& flags);  // --mask-rate (--pretrain is a model flag)
Pretraining pretraining_from_flags(const Flags& flags);

struct MaskedTokens {
  Tensor inputs;     // int32 (B, N): the batch's tokens with the chosen ones replaced
  Tensor positions;  // int32 (M): flat indices b * N + n of the chosen positions, M >= 1
  Tensor targets;    // int32 (M): their original tokens
};

// `vocab` counts the padding token `mask_token`; the batch must hold token ids and at least one
// real token.
MaskedTokens mask_tokens(const Batch& batch, int64_t vocab, int32_t mask_token, double rate, uint64_t seed);

// The masking seed of the batch starting at example `first` of `split`.
uint64_t mask_seed(const Pretraining& pretraining, Split split, int64_t first);

}  // namespace apps
