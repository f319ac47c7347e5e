#include "apps/pretraining.h"

#include <vector>

#include "engine/check.h"
#include "engine/rng.h"

namespace apps {

void add_pretraining_flags(Flags& f) {
  f.add_double("mask-rate", 0.15, "--pretrain masked-tokens: the share of real positions chosen for prediction");
}

Pretraining pretraining_from_flags(const Flags& f) {
  Pretraining p;
  p.masked_tokens = f.get_string("pretrain") == "masked-tokens";  // make_model refuses other values
  p.mask_rate = f.get_double("mask-rate");
  LONGMIX_CHECK(p.mask_rate > 0 && p.mask_rate <= 1, "--mask-rate must be in (0, 1], got " << p.mask_rate);
  p.seed = static_cast<uint64_t>(f.get_int("seed"));
  return p;
}

uint64_t mask_seed(const Pretraining& p, Split split, int64_t first) {
  return engine::splitmix64(engine::splitmix64(p.seed * 3 + static_cast<uint64_t>(split) + 0x6d61736bull) ^
                            static_cast<uint64_t>(first));
}

MaskedTokens mask_tokens(const Batch& batch, int64_t vocab, int32_t mask_token, double rate, uint64_t seed) {
  const Tensor& tokens = batch.inputs;
  LONGMIX_CHECK(tokens.defined() && tokens.dtype() == engine::DType::i32 && tokens.ndim() == 2,
                "masked-token pretraining needs token ids (B, N); this task gives " << tokens.shape()
                                                                                   << " continuous inputs");
  LONGMIX_CHECK(vocab >= 3 && mask_token >= 0 && mask_token < vocab,
                "masked-token pretraining needs a padding token (the mask) in a vocabulary of at least 3");
  const int64_t count = tokens.numel();
  MaskedTokens out;
  out.inputs = Tensor::empty(tokens.shape(), engine::DType::i32);
  const int32_t* in = tokens.data<int32_t>();
  int32_t* corrupted = out.inputs.data<int32_t>();
  const float* real = batch.mask.defined() ? batch.mask.data<float>() : nullptr;
  engine::Rng rng(seed);
  std::vector<int32_t> positions, targets;
  int64_t first_real = -1;
  for (int64_t i = 0; i < count; ++i) {
    corrupted[i] = in[i];
    if (real && real[i] == 0) continue;
    if (first_real < 0) first_real = i;
    if (rng.uniform() >= rate) continue;
    positions.push_back(static_cast<int32_t>(i));
    targets.push_back(in[i]);
    const double kind = rng.uniform();
    if (kind < 0.8) {
      corrupted[i] = mask_token;
    } else if (kind < 0.9) {  // any token but the mask
      const auto other = static_cast<int32_t>(rng.next_u64() % static_cast<uint64_t>(vocab - 1));
      corrupted[i] = other < mask_token ? other : other + 1;
    }
  }
  LONGMIX_CHECK(first_real >= 0, "masked-token pretraining: a batch with no real token (all padding)");
  if (positions.empty()) {  // a tiny batch drew none: predict its first real token, hidden
    positions.push_back(static_cast<int32_t>(first_real));
    targets.push_back(in[first_real]);
    corrupted[first_real] = mask_token;
  }
  const int64_t M = static_cast<int64_t>(positions.size());
  out.positions = Tensor::from_data({M}, positions);
  out.targets = Tensor::from_data({M}, targets);
  return out;
}

}  // namespace apps
