// Training checkpoints: everything a run needs to continue bitwise where it stopped, in the
// safetensors layout (nn/safetensors.h). Tensors: the parameters ("model.NAME") and the
// optimizer state ("optim.NAME"). Metadata: the format tag, the step (the data position is a
// function of it), the optimizer's step count, every dropout generator's state and the
// resolved flags ("config"). Files are DIR/checkpoint-<step>.safetensors; the newest `keep`
// are kept.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "apps/flags.h"
#include "nn/module.h"
#include "nn/optim.h"
#include "nn/safetensors.h"

namespace apps {

// Writes the checkpoint of `step` (temporary file + rename) and prunes older ones; returns its path.
std::string save_run_checkpoint(const std::string& dir, int64_t step, const nn::Module& model,
                                const nn::Optimizer& optimizer, const Flags& flags, int64_t keep);

// --keep-best: DIR/best.safetensors, a checkpoint (same format) of the parameters with the
// best validation accuracy so far, which its metadata also holds ("val_accuracy").
std::string best_checkpoint_path(const std::string& dir);
void save_best_checkpoint(const std::string& dir, int64_t step, double val_accuracy, const nn::Module& model,
                          const nn::Optimizer& optimizer, const Flags& flags);

// The newest checkpoint in dir, or "" when there is none.
std::string latest_run_checkpoint(const std::string& dir);

struct RunCheckpoint {
  std::string path;
  nn::SafetensorsFile file;
  int64_t step = 0;
  std::string config_json;  // the resolved flags of the run that wrote it
  int format = 2;           // 1: written before the encoders honoured --pooling
};

// Reads and validates the format; a truncated or corrupt file is refused by name.
RunCheckpoint read_run_checkpoint(const std::string& path);

// The validation accuracy a best.safetensors was kept for; refused when absent or malformed.
double best_val_accuracy(const RunCheckpoint& checkpoint);

// The checkpoint's "model.NAME" tensor for each of the model's parameters, in
// named_parameters() order; one missing, or shaped or typed unlike the model's, is refused.
std::vector<const engine::Tensor*> checkpoint_parameters(const RunCheckpoint& checkpoint, const nn::Module& model);

// Copies parameters, generator states and (unless optimizer is nullptr) optimizer state into a
// model built from the same configuration; a checkpoint of another model (missing, extra or
// reshaped tensors) is refused.
void restore_run_checkpoint(const RunCheckpoint& checkpoint, nn::Module& model, nn::Optimizer* optimizer);

// --init-from: copies each parameter the checkpoint holds ("model.NAME") into the model's
// parameter NAME, the rest (e.g. a classifier head after masked-token pretraining) keeping
// their fresh values; a shared name shaped unlike, or no shared name at all, is refused.
struct Initialization {
  std::vector<std::string> loaded, fresh, unused;  // fresh: the model's, not in the file; unused: the file's, not in the model
};
Initialization initialize_from_checkpoint(const RunCheckpoint& checkpoint, nn::Module& model);

// Sets every flag `flags` declares and the user did not give from the checkpoint's config
// (a format-1 mra or transformer checkpoint is read as mean-pooled, which it was).
void apply_checkpoint_config(const RunCheckpoint& checkpoint, Flags& flags);

}  // namespace apps
