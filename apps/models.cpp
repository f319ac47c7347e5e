#include "apps/models.h"

#include <cmath>

#include "engine/check.h"
#include "nn/encoder.h"
#include "nn/layers.h"
#include "nn/paramixer.h"
#include "ops/shape_ops.h"

namespace apps {

Tensor Model::token_logits(const Tensor&, const Tensor&, const Tensor&) {
  throw engine::Error("masked-token pretraining (--pretrain masked-tokens) is for the mra and transformer encoders");
}

namespace {

// An MLP over the flattened input: Linear(in, hidden) - GELU - Linear(hidden, outputs).
class MlpModel : public Model, public nn::Module {
 public:
  MlpModel(int64_t in, int64_t hidden, int64_t out, engine::Rng& rng) : mlp_(in, hidden, out, rng) {
    register_module("mlp", mlp_);
  }
  Tensor forward(const Tensor& inputs, const Tensor&) override {
    LONGMIX_CHECK(inputs.dtype() != engine::DType::i32,
                  "model mlp: needs continuous inputs; this task gives token ids");
    return mlp_.forward(ops::reshape(inputs, {inputs.dim(0), -1}));
  }
  nn::Module& module() override { return *this; }

 private:
  nn::Mlp mlp_;
};

class ParamixerModel : public Model {
 public:
  ParamixerModel(const nn::ParamixerNetConfig& c, engine::Rng& rng) : net_(c, rng) {}
  // Padding positions are tokens like any other to the sparse factors (the published model
  // pads the same way); the mask is not needed.
  Tensor forward(const Tensor& inputs, const Tensor&) override { return net_.forward(inputs); }
  nn::Module& module() override { return net_; }

 private:
  nn::ParamixerNet net_;
};

class EncoderModel : public Model {
 public:
  EncoderModel(const nn::EncoderNetConfig& c, engine::Rng& rng)
      : net_(c, rng), mra_(c.block.attention.kind == nn::AttentionKind::mra) {}
  Tensor forward(const Tensor& inputs, const Tensor& mask) override { return net_.forward(inputs, mask); }
  Tensor token_logits(const Tensor& inputs, const Tensor& mask, const Tensor& positions) override {
    return net_.token_logits(inputs, mask, positions);
  }
  nn::Module& module() override { return net_; }
  bool hold_attention_selection(bool on) override {
    net_.hold_attention_selection(on);
    return mra_;
  }

 private:
  nn::EncoderNet net_;
  bool mra_;
};

int64_t positive(const Flags& f, const char* name) {
  const int64_t v = f.get_int(name);
  LONGMIX_CHECK(v >= 1, "--" << name << " must be >= 1, got " << v);
  return v;
}

int64_t head_hidden(const Flags& f) {
  const int64_t v = f.get_int("head-hidden");
  LONGMIX_CHECK(v >= 0, "--head-hidden must be >= 0 (0: a linear head), got " << v);
  return v;
}

// --pooling, with "auto" resolved to each family's published head: the Paramixer net
// flattens, the LRA encoders mean-pool.
nn::EncoderPooling pooling_from_flags(const Flags& f, nn::EncoderPooling by_default) {
  const std::string& pooling = f.get_string("pooling");
  if (pooling == "auto") return by_default;
  if (pooling == "mean") return nn::EncoderPooling::mean;
  if (pooling == "flatten") return nn::EncoderPooling::flatten;
  if (pooling == "first") return nn::EncoderPooling::first;
  throw engine::Error("unknown --pooling '" + pooling + "' (available: auto, flatten, mean, first)");
}

// --embedding-std, checked here to name the flag (nn::InputEmbedding checks it too).
double embedding_std(const Flags& f, const Task& task) {
  const double v = f.get_double("embedding-std");
  LONGMIX_CHECK(v > 0 && std::isfinite(v), "--embedding-std must be > 0, got " << v);
  LONGMIX_CHECK(v == 1.0 || task.vocab_size() > 0,
                "--embedding-std applies to token embeddings, but task " << task.name()
                                                                         << " gives continuous inputs (a Linear)");
  return v;
}

}  // namespace

void add_model_flags(Flags& flags) {
  flags.add_string("model", "mlp", "model to train: mlp, paramixer, mra (MRA-2 encoder), transformer (exact attention)");
  flags.add_int("hidden", 64, "hidden width H of the MLPs (the feed-forward width F of mra/transformer)");
  flags.add_int("dim", 32, "model width D");
  flags.add_int("layers", 2, "number of layers");
  flags.add_int("heads", 2, "attention heads (mra, transformer); head width d = D / heads");
  flags.add_int("blocks-per-row", 8, "MRA-2 budget: high-resolution blocks per block row, on average");
  flags.add_int("block", 32, "MRA-2 block size (1 .. 32)");
  flags.add_int("mra-prior-diagonal", 0,
                "MRA-2: always refine the blocks with |I - J| < B at full resolution (the MRA code's "
                "initial_prior_diagonal_n_blocks: 0 in its ListOps setting, 1 for text and retrieval)");
  flags.add_string("mra-mode", "full", "MRA-2 mode: full (with the low-resolution complement) or sparse");
  flags.add_bool("rotary", false,
                 "rotary position embedding of queries and keys (RoPE), besides the learned positions (mra, transformer)");
  flags.add_bool("patches", false, "reorder a square image's tokens into 4 x 8 patches (mra, transformer)");
  flags.add_string("protocol", "chord", "paramixer sparse-factor protocol: chord or cdil");
  flags.add_bool("pos-emb", false, "learned positional embedding (paramixer)");
  flags.add_string("pooling", "auto",
                   "head over positions: flatten (all N*D features), mean, or first (the first position's "
                   "features, as a CLS token: mra, transformer); auto: flatten for paramixer, mean for mra and "
                   "transformer");
  flags.add_int("head-hidden", 0, "0: a linear head over the pooled positions; N > 0: an MLP head, Linear - GELU - Linear, N wide, as LRA's classifiers (paramixer, mra, transformer)");
  flags.add_double("embedding-std", 1.0,
                   "initial standard deviation of the token embedding, N(0, s^2) (paramixer, mra, transformer): "
                   "1 is torch.nn.Embedding's default; 0.02 the LRA code bases' (Nystromformer, MRA), the "
                   "scale of the learned positional embedding, which 1 outweighs 50 to 1");
  flags.add_double("dropout", 0, "dropout probability");
  flags.add_string("pretrain", "none",
                   "none, or masked-tokens: train the encoder (mra, transformer) to restore hidden tokens of the "
                   "task's inputs instead of classifying them; a classifier then starts from it with --init-from");
  flags.add_bool("recompute", false, "keep only layer inputs, recompute the rest in backward (less memory)");
}

std::unique_ptr<Model> make_model(const Flags& flags, const Task& task, engine::Rng& rng) {
  const std::string& name = flags.get_string("model");
  const int64_t hidden = positive(flags, "hidden");
  const std::string& pretrain = flags.get_string("pretrain");
  LONGMIX_CHECK(pretrain == "none" || pretrain == "masked-tokens",
                "unknown --pretrain '" << pretrain << "' (available: none, masked-tokens)");
  LONGMIX_CHECK(pretrain == "none" || name == "mra" || name == "transformer",
                "--pretrain masked-tokens is for the mra and transformer encoders, not model " << name);
  LONGMIX_CHECK(pretrain == "none" || (task.vocab_size() > 0 && task.padding_token() >= 0),
                "--pretrain masked-tokens hides tokens behind the padding token: task "
                    << task.name() << " has " << (task.vocab_size() > 0 ? "no padding token" : "no tokens"));
  if (name == "mlp") {
    const int64_t seq = std::max<int64_t>(task.seq_len(), 1);
    LONGMIX_CHECK(task.input_features() > 0, "model mlp: task " << task.name()
                                                                << " gives token ids; mlp needs continuous inputs");
    return std::make_unique<MlpModel>(seq * task.input_features(), hidden, task.num_outputs(), rng);
  }
  LONGMIX_CHECK(!flags.get_bool("rotary") || name == "mra" || name == "transformer",
                "--rotary turns attention queries and keys: model " << name << " has no attention (mra, transformer)");
  if (name == "paramixer") {
    LONGMIX_CHECK(task.seq_len() >= 2, "model paramixer: task " << task.name() << " is not a sequence task");
    nn::ParamixerNetConfig c;
    c.layer.seq_len = task.seq_len();
    c.layer.dim = positive(flags, "dim");
    c.layer.hidden = hidden;
    c.layer.protocol = ops::protocol_from_name(flags.get_string("protocol"));
    c.layer.dropout = flags.get_double("dropout");
    c.layer.recompute = flags.get_bool("recompute");
    LONGMIX_CHECK(c.layer.dropout >= 0 && c.layer.dropout < 1,
                  "--dropout must be in [0, 1), got " << c.layer.dropout);
    c.layers = positive(flags, "layers");
    c.vocab = task.vocab_size();
    c.embedding_std = embedding_std(flags, task);
    c.input_features = task.vocab_size() > 0 ? 0 : task.input_features();
    c.positional = flags.get_bool("pos-emb");
    const nn::EncoderPooling pooling = pooling_from_flags(flags, nn::EncoderPooling::flatten);
    LONGMIX_CHECK(pooling != nn::EncoderPooling::first,
                  "--pooling first is for the mra and transformer encoders; the paramixer net takes flatten or mean");
    c.mean_pool = pooling == nn::EncoderPooling::mean;
    c.head_hidden = head_hidden(flags);
    c.outputs = task.num_outputs();
    return std::make_unique<ParamixerModel>(c, rng);
  }
  if (name == "mra" || name == "transformer") {
    nn::EncoderNetConfig c;
    c.seq_len = task.seq_len();
    LONGMIX_CHECK(c.seq_len >= 1, "model " << name << ": task " << task.name() << " is not a sequence task");
    nn::AttentionConfig& a = c.block.attention;
    a.dim = positive(flags, "dim");
    a.heads = positive(flags, "heads");
    a.kind = nn::attention_kind_from_name(name);
    a.rotary = flags.get_bool("rotary");
    a.mra.block = positive(flags, "block");
    a.mra.blocks_per_row = positive(flags, "blocks-per-row");
    a.mra.prior_diagonal = flags.get_int("mra-prior-diagonal");
    LONGMIX_CHECK(a.mra.prior_diagonal >= 0, "--mra-prior-diagonal must be >= 0, got " << a.mra.prior_diagonal);
    const std::string& mode = flags.get_string("mra-mode");
    LONGMIX_CHECK(mode == "full" || mode == "sparse", "unknown --mra-mode '" << mode << "' (available: full, sparse)");
    a.mra.full = mode == "full";
    c.block.ffn = hidden;
    c.block.dropout = flags.get_double("dropout");
    LONGMIX_CHECK(c.block.dropout >= 0 && c.block.dropout < 1, "--dropout must be in [0, 1), got " << c.block.dropout);
    c.layers = positive(flags, "layers");
    c.vocab = task.vocab_size();
    c.embedding_std = embedding_std(flags, task);
    c.input_features = task.vocab_size() > 0 ? 0 : task.input_features();
    c.outputs = task.num_outputs();
    c.image_patches = flags.get_bool("patches");
    c.head_hidden = head_hidden(flags);
    c.pooling = pooling_from_flags(flags, nn::EncoderPooling::mean);
    if (pretrain == "masked-tokens") c.token_vocab = task.vocab_size();
    return std::make_unique<EncoderModel>(c, rng);
  }
  throw engine::Error("unknown model '" + name + "' (available: mlp, paramixer, mra, transformer)");
}

}  // namespace apps
