#include "apps/gradcheck.h"

#include <cstdio>
#include <iostream>
#include <sstream>

#include "apps/models.h"
#include "apps/presets.h"
#include "apps/run_checkpoint.h"
#include "apps/tasks/registry.h"
#include "engine/check.h"
#include "engine/rng.h"
#include "engine/threads.h"

namespace apps {
namespace {

std::string format_row(const std::string& name, const std::string& shape, const std::string& coords,
                       const std::string& abs_err, const std::string& rel_err, const std::string& at,
                       const std::string& result) {
  char line[512];
  std::snprintf(line, sizeof line, "%-42s %-14s %7s %11s %11s %-14s %s\n", name.c_str(), shape.c_str(),
                coords.c_str(), abs_err.c_str(), rel_err.c_str(), at.c_str(), result.c_str());
  return line;
}

std::string scientific(double x) {
  char s[32];
  std::snprintf(s, sizeof s, "%.2e", x);
  return s;
}

}  // namespace

void add_gradcheck_flags(Flags& f) {
  add_model_flags(f);
  add_task_flags(f);
  f.add_int("batch", 2, "examples in the checked batch");
  f.add_int("samples", 16, "coordinates checked per tensor (all of them when the tensor is smaller)");
  f.add_string("dtype", "float64", "float64, or float32 to see how much float32 loses (looser defaults)");
  f.add_double("eps", 0, "finite-difference step (0: 1e-6 in float64, 1e-3 in float32)");
  f.add_double("atol", 0, "absolute tolerance (0: 1e-5 in float64, 1e-2 in float32)");
  f.add_double("rtol", 0, "relative tolerance (0: 1e-3 in float64, 1e-2 in float32)");
  f.add_int("seed", 0, "seed for the batch, the initialization and the sampled coordinates");
  f.add_int("threads", 0, "threads (0: OMP_NUM_THREADS or all cores)");
  f.add_string("checkpoint", "", "check at a trained model's parameters: a checkpoint-*.safetensors of `train --save-every` (its configuration fills the model and task flags not given)");
}

GradcheckRun run_gradcheck(Flags f) {
  const bool user_batch = f.was_set("batch");
  const std::string checkpoint_path = f.get_string("checkpoint");
  RunCheckpoint checkpoint;
  if (!checkpoint_path.empty()) {
    checkpoint = read_run_checkpoint(checkpoint_path);
    apply_checkpoint_config(checkpoint, f);
  }
  const std::string preset = checkpoint_path.empty() ? apply_presets(f) : "";
  if (!user_batch) f.set("batch", "2");  // presets carry the training batch; a check wants a small one
  const int64_t batch = f.get_int("batch"), samples = f.get_int("samples");
  LONGMIX_CHECK(batch >= 1, "--batch must be >= 1, got " << batch);
  LONGMIX_CHECK(samples >= 1, "--samples must be >= 1, got " << samples);
  const std::string& dtype_name = f.get_string("dtype");
  LONGMIX_CHECK(dtype_name == "float64" || dtype_name == "float32",
                "unknown --dtype '" << dtype_name << "' (available: float64, float32)");
  const engine::DType dtype = dtype_name == "float64" ? engine::DType::f64 : engine::DType::f32;
  engine::GradcheckOptions options = engine::GradcheckOptions::for_dtype(dtype);
  for (const char* name : {"eps", "atol", "rtol"})
    LONGMIX_CHECK(f.get_double(name) >= 0, "--" << name << " must be >= 0, got " << f.get_double(name));
  if (f.get_double("eps") > 0) options.eps = f.get_double("eps");
  if (f.get_double("atol") > 0) options.atol = f.get_double("atol");
  if (f.get_double("rtol") > 0) options.rtol = f.get_double("rtol");
  options.max_coords = samples;
  options.seed = static_cast<uint64_t>(f.get_int("seed")) + 1234;
  engine::set_num_threads(static_cast<int>(f.get_int("threads")));

  const std::unique_ptr<Task> task = make_task(f);
  engine::Rng init_rng(engine::splitmix64(static_cast<uint64_t>(f.get_int("seed")) + 17));
  const std::unique_ptr<Model> model = make_model(f, *task, init_rng);
  nn::Module& module = model->module();
  if (!checkpoint_path.empty()) restore_run_checkpoint(checkpoint, module, nullptr);
  module.eval();
  module.to(dtype);
  Batch b = task->batch(Split::train, 0, batch);
  Tensor inputs = b.inputs;
  std::vector<Tensor> checked;
  std::vector<std::string> names;
  for (auto& [name, t] : module.named_parameters()) {
    checked.push_back(t);
    names.push_back(name);
  }
  if (inputs.dtype() != engine::DType::i32) {  // continuous inputs get a gradient too
    inputs = inputs.to(dtype);
    inputs.set_requires_grad();
    checked.push_back(inputs);
    names.push_back("inputs");
  }
  const bool held = model->hold_attention_selection(true);

  std::ostringstream out;
  if (!preset.empty()) out << preset << "\n";
  if (!checkpoint_path.empty())
    out << "parameters from " << checkpoint_path << " (step " << checkpoint.step << ")\n";
  out << "gradcheck: model " << f.get_string("model") << " (" << module.num_parameters() << " parameters), task "
      << task->name() << ", batch " << batch << ", " << dtype_name << ", eps " << options.eps << ", atol "
      << options.atol << ", rtol " << options.rtol << ", up to " << samples << " coordinates per tensor\n";
  if (dtype == engine::DType::f32)
    out << "float32: the tolerances are looser than float64's, and float32 rounding is part of what you see\n";
  if (held) out << "MRA-2: block selection computed once from the unperturbed inputs and held fixed while perturbing\n";
  out << "dropout off (evaluation mode)\n\n";

  const engine::GradcheckResult r = engine::gradcheck([&] { return model->forward(inputs, b.mask); }, checked, options, names);
  model->hold_attention_selection(false);

  GradcheckRun run;
  run.ok = r.ok;
  run.tensors = r.inputs;
  out << format_row("tensor", "shape", "coords", "worst abs", "worst rel", "at", "result");
  int failures = 0;
  for (const auto& t : r.inputs) {
    std::ostringstream shape;
    shape << t.shape;
    out << format_row(t.name, shape.str(), std::to_string(t.coords_checked), scientific(t.worst_abs_error),
                      scientific(t.worst_rel_error), t.worst_coord >= 0 ? engine::index_str(t.shape, t.worst_coord) : "-",
                      t.ok ? "pass" : "FAIL");
    failures += !t.ok;
  }
  out << "\n" << (r.ok ? "PASS" : "FAIL") << ": " << r.inputs.size() - failures << " of " << r.inputs.size()
      << " tensors within tolerance\n";
  run.text = out.str();
  return run;
}

int gradcheck_main(int argc, const char* const* argv) {
  Flags flags;
  add_gradcheck_flags(flags);
  flags.parse(argc, argv, 1);
  if (flags.help_requested()) {
    std::cout << "usage: longmix gradcheck --model paramixer|mra|transformer [model flags] --task T --seq-len N [flags]\n\n"
                 "Checks every parameter's gradient (and the inputs', when continuous) against central\n"
                 "finite differences of a weighted loss, in float64 by default. Exits 1 when a tensor fails.\n\n"
              << flags.help_text();
    return 0;
  }
  const GradcheckRun run = run_gradcheck(flags);
  std::cout << run.text;
  return run.ok ? 0 : 1;
}

}  // namespace apps
