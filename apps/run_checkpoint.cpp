#include "apps/run_checkpoint.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "apps/config_file.h"
#include "engine/check.h"

namespace apps {
namespace {

namespace fs = std::filesystem;

// Format 2 (since the encoders honour --pooling) is format 1's layout; only the meaning of
// one config entry changed (see apply_checkpoint_config).
constexpr const char* kFormat = "longmix-run-checkpoint-2";
constexpr const char* kFormat1 = "longmix-run-checkpoint-1";
constexpr const char* kPrefix = "checkpoint-";
constexpr const char* kSuffix = ".safetensors";
constexpr const char* kBestName = "best.safetensors";  // --keep-best

std::string rng_text(const engine::Rng& rng) {
  std::string out;
  for (uint64_t w : rng.state()) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%016" PRIx64, w);
    if (!out.empty()) out += ',';
    out += buf;
  }
  return out;
}

std::array<uint64_t, 4> rng_from_text(const std::string& text, const std::string& what) {
  std::array<uint64_t, 4> s{};
  unsigned long long w[4];
  char tail;
  LONGMIX_CHECK(std::sscanf(text.c_str(), "%llx,%llx,%llx,%llx%c", &w[0], &w[1], &w[2], &w[3], &tail) == 4,
                what << ": bad generator state '" << text << "'");
  for (int i = 0; i < 4; ++i) s[static_cast<size_t>(i)] = w[i];
  return s;
}

// Checkpoint steps in dir, ascending.
std::vector<std::pair<int64_t, std::string>> checkpoints_in(const std::string& dir) {
  std::vector<std::pair<int64_t, std::string>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kPrefix, 0) != 0 || name.size() <= std::string(kPrefix).size() + std::string(kSuffix).size() ||
        name.substr(name.size() - std::string(kSuffix).size()) != kSuffix)
      continue;
    const std::string digits =
        name.substr(std::string(kPrefix).size(), name.size() - std::string(kPrefix).size() - std::string(kSuffix).size());
    if (digits.find_first_not_of("0123456789") != std::string::npos) continue;
    found.emplace_back(std::stoll(digits), entry.path().string());
  }
  std::sort(found.begin(), found.end());
  return found;
}

// The checkpoint's tensor `name`, refused by name when absent or unlike `like` (the model's
// or optimizer's tensor it is for).
const engine::Tensor& matching_tensor(const RunCheckpoint& c, const std::string& name, const engine::Tensor& like) {
  const engine::Tensor* t = c.file.find(name);
  LONGMIX_CHECK(t, c.path << ": has no tensor '" << name << "' (a checkpoint of another model?)");
  LONGMIX_CHECK(t->shape() == like.shape() && t->dtype() == like.dtype(),
                c.path << ": " << name << " is " << t->shape() << " " << engine::dtype_name(t->dtype())
                       << " in the checkpoint but " << like.shape() << " " << engine::dtype_name(like.dtype())
                       << " in the model (a checkpoint of another model?)");
  return *t;
}

nn::SafetensorsFile checkpoint_file(int64_t step, const nn::Module& model, const nn::Optimizer& optimizer,
                                    const Flags& flags) {
  nn::SafetensorsFile file;
  for (const auto& [name, t] : model.named_parameters()) file.tensors.emplace_back("model." + name, t);
  for (const auto& [name, t] : optimizer.state()) file.tensors.emplace_back("optim." + name, t);
  file.metadata["format"] = kFormat;
  file.metadata["step"] = std::to_string(step);
  file.metadata["optimizer_steps"] = std::to_string(optimizer.steps_taken());
  file.metadata["config"] = flags.resolved_json();
  for (const auto& [name, rng] : model.named_rngs()) file.metadata["rng." + name] = rng_text(*rng);
  return file;
}

}  // namespace

std::string save_run_checkpoint(const std::string& dir, int64_t step, const nn::Module& model,
                                const nn::Optimizer& optimizer, const Flags& flags, int64_t keep) {
  const nn::SafetensorsFile file = checkpoint_file(step, model, optimizer, flags);
  char name[64];
  std::snprintf(name, sizeof name, "%s%08lld%s", kPrefix, static_cast<long long>(step), kSuffix);
  const std::string path = (fs::path(dir) / name).string();
  nn::write_safetensors(path, file);
  const auto all = checkpoints_in(dir);
  for (size_t i = 0; i + static_cast<size_t>(std::max<int64_t>(keep, 1)) < all.size(); ++i) {
    std::error_code ec;
    fs::remove(all[i].second, ec);
  }
  return path;
}

std::string best_checkpoint_path(const std::string& dir) { return (fs::path(dir) / kBestName).string(); }

void save_best_checkpoint(const std::string& dir, int64_t step, double val_accuracy, const nn::Module& model,
                          const nn::Optimizer& optimizer, const Flags& flags) {
  nn::SafetensorsFile file = checkpoint_file(step, model, optimizer, flags);
  char text[32];
  std::snprintf(text, sizeof text, "%.17g", val_accuracy);  // round-trips the double exactly
  file.metadata["val_accuracy"] = text;
  nn::write_safetensors(best_checkpoint_path(dir), file);
}

double best_val_accuracy(const RunCheckpoint& c) {
  const auto it = c.file.metadata.find("val_accuracy");
  LONGMIX_CHECK(it != c.file.metadata.end(), c.path << ": no 'val_accuracy' in its metadata (not a best.safetensors)");
  char* end = nullptr;
  const double v = std::strtod(it->second.c_str(), &end);
  LONGMIX_CHECK(end && *end == '\0' && !it->second.empty() && v >= 0 && v <= 1,
                c.path << ": bad val_accuracy '" << it->second << "'");
  return v;
}

std::string latest_run_checkpoint(const std::string& dir) {
  const auto all = checkpoints_in(dir);
  return all.empty() ? "" : all.back().second;
}

RunCheckpoint read_run_checkpoint(const std::string& path) {
  RunCheckpoint c;
  c.path = path;
  c.file = nn::read_safetensors(path);
  const auto& m = c.file.metadata;
  auto meta = [&](const char* key) -> const std::string& {
    auto it = m.find(key);
    LONGMIX_CHECK(it != m.end(), path << ": not a longmix training checkpoint (no '" << key << "' in its metadata)");
    return it->second;
  };
  const std::string& format = meta("format");
  LONGMIX_CHECK(format == kFormat || format == kFormat1,
                path << ": checkpoint format '" << format << "', expected '" << kFormat << "' (or '" << kFormat1
                     << "')");
  c.format = format == kFormat ? 2 : 1;
  const std::string& step = meta("step");
  LONGMIX_CHECK(!step.empty() && step.find_first_not_of("0123456789") == std::string::npos,
                path << ": bad step '" << step << "'");
  c.step = std::stoll(step);
  c.config_json = meta("config");
  const std::string& opt_steps = meta("optimizer_steps");
  LONGMIX_CHECK(!opt_steps.empty() && opt_steps.find_first_not_of("0123456789") == std::string::npos,
                path << ": bad optimizer_steps '" << opt_steps << "'");
  return c;
}

std::vector<const engine::Tensor*> checkpoint_parameters(const RunCheckpoint& c, const nn::Module& model) {
  std::vector<const engine::Tensor*> params;
  for (const auto& [name, p] : model.named_parameters()) params.push_back(&matching_tensor(c, "model." + name, p));
  return params;
}

void restore_run_checkpoint(const RunCheckpoint& c, nn::Module& model, nn::Optimizer* optimizer) {
  std::set<std::string> used;
  const std::vector<const engine::Tensor*> params = checkpoint_parameters(c, model);
  auto named = model.named_parameters();
  for (size_t i = 0; i < named.size(); ++i) {
    named[i].second.copy_from(*params[i]);
    used.insert("model." + named[i].first);
  }
  if (optimizer)
    for (auto& [name, t] : optimizer->state()) {
      t.copy_from(matching_tensor(c, "optim." + name, t));
      used.insert("optim." + name);
    }
  for (const auto& [name, t] : c.file.tensors)
    LONGMIX_CHECK(used.count(name) || (!optimizer && name.rfind("optim.", 0) == 0),
                  c.path << ": tensor '" << name << "' belongs to no part of this model (a checkpoint of another model?)");
  for (auto& [name, rng] : model.named_rngs()) {
    auto it = c.file.metadata.find("rng." + name);
    LONGMIX_CHECK(it != c.file.metadata.end(), c.path << ": no state for generator " << name);
    rng->set_state(rng_from_text(it->second, c.path + ": rng." + name));
  }
  if (optimizer) optimizer->set_steps_taken(std::stoll(c.file.metadata.at("optimizer_steps")));
}

Initialization initialize_from_checkpoint(const RunCheckpoint& c, nn::Module& model) {
  Initialization r;
  std::set<std::string> in_model;
  for (auto& [name, p] : model.named_parameters()) {
    in_model.insert("model." + name);
    if (!c.file.find("model." + name)) {
      r.fresh.push_back(name);
      continue;
    }
    p.copy_from(matching_tensor(c, "model." + name, p));
    r.loaded.push_back(name);
  }
  for (const auto& [name, t] : c.file.tensors)
    if (name.rfind("model.", 0) == 0 && !in_model.count(name)) r.unused.push_back(name.substr(6));
  LONGMIX_CHECK(!r.loaded.empty(), c.path << ": --init-from found none of this model's parameters in it (a checkpoint of another model?)");
  return r;
}

void apply_checkpoint_config(const RunCheckpoint& c, Flags& flags) {
  const bool pooling_given = flags.was_set("pooling");
  apply_json_flags(c.config_json, c.path + " config", flags, false);
  // Format 1 saved "pooling": "flatten" (the flag's old default) for every model, but the mra
  // and transformer encoders then always mean-pooled.
  const std::string& model = flags.get_string("model");
  if (c.format == 1 && !pooling_given && (model == "mra" || model == "transformer")) flags.set("pooling", "mean");
}

}  // namespace apps
