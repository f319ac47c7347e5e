#include "apps/train.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

#include "apps/best_so_far.h"
#include "apps/config_file.h"
#include "apps/distributed.h"
#include "apps/metrics_log.h"
#include "apps/models.h"
#include "apps/presets.h"
#include "apps/run_checkpoint.h"
#include "apps/tasks/registry.h"
#include "engine/batch_shard.h"
#include "engine/check.h"
#include "engine/cpu.h"
#include "engine/tape.h"
#include "engine/threads.h"
#include "nn/optim.h"
#include "ops/loss.h"
#include "ops/shape_ops.h"

namespace apps {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string format_duration(double s) {
  const int64_t t = static_cast<int64_t>(s + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(t / 3600),
                static_cast<long long>(t / 60 % 60), static_cast<long long>(t % 60));
  return buf;
}

}  // namespace

namespace {

// How many rows of logits (M, C) have their largest entry at the target class.
int64_t count_correct(const Tensor& logits, const Tensor& targets) {
  const int64_t M = logits.dim(0), C = logits.dim(-1);
  int64_t correct = 0;
  for (int64_t m = 0; m < M; ++m) {
    int64_t best = 0;
    for (int64_t c = 1; c < C; ++c)
      if (logits.at_flat(m * C + c) > logits.at_flat(m * C + best)) best = c;
    correct += best == targets.at_flat(m);
  }
  return correct;
}

}  // namespace

BatchOutcome score(const Task& task, const Tensor& outputs, const Tensor& targets) {
  BatchOutcome r;
  const int64_t B = outputs.dim(0);
  r.scored = B;
  if (task.objective() == Objective::classification) {
    r.loss = ops::cross_entropy(outputs, targets);
    r.correct = count_correct(outputs, targets);
  } else {
    const Tensor prediction = ops::reshape(outputs, {B});
    r.loss = ops::mse(prediction, targets);
    for (int64_t b = 0; b < B; ++b)
      r.correct += std::fabs(prediction.at_flat(b) - targets.at_flat(b)) < task.regression_tolerance();
  }
  return r;
}

BatchOutcome run_batch(Model& model, const Task& task, const Batch& b, const Pretraining& pretraining,
                       uint64_t mask_seed_value) {
  if (!pretraining.masked_tokens) return score(task, model.forward(b.inputs, b.mask), b.targets);
  const MaskedTokens m = mask_tokens(b, task.vocab_size(), static_cast<int32_t>(task.padding_token()),
                                     pretraining.mask_rate, mask_seed_value);
  const Tensor logits = model.token_logits(m.inputs, b.mask, m.positions);
  BatchOutcome r;
  r.loss = ops::cross_entropy(logits, m.targets);
  r.correct = count_correct(logits, m.targets);
  r.scored = m.targets.numel();
  return r;
}

namespace {

// The name of the first parameter whose gradient holds a NaN or an infinity, or "".
std::string first_nonfinite_gradient(const nn::NamedTensors& params) {
  for (const auto& [name, p] : params) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    const float* x = g.data<float>();
    for (int64_t i = 0; i < g.numel(); ++i)
      if (!std::isfinite(x[i])) return name;
  }
  return "";
}

uint64_t parameter_digest(const nn::Module& module) {
  uint64_t h = 1469598103934665603ull;
  for (const auto& [name, t] : module.named_parameters()) {
    const auto* bytes = static_cast<const unsigned char*>(t.raw_data());
    for (size_t i = 0; i < t.nbytes(); ++i) h = (h ^ bytes[i]) * 1099511628211ull;
  }
  return h;
}

std::unique_ptr<nn::Optimizer> make_optimizer(const Flags& f, nn::NamedTensors params) {
  const std::string& name = f.get_string("optimizer");
  const double wd = f.get_double("weight-decay");
  LONGMIX_CHECK(wd >= 0, "--weight-decay must be >= 0, got " << wd);
  if (name == "sgd") {
    const double momentum = f.get_double("momentum");
    LONGMIX_CHECK(momentum >= 0 && momentum < 1, "--momentum must be in [0, 1), got " << momentum);
    return std::make_unique<nn::Sgd>(std::move(params), nn::SgdOptions{momentum, wd});
  }
  if (name == "adam" || name == "adamw") {
    nn::AdamOptions o;
    o.weight_decay = wd;
    o.decoupled_weight_decay = name == "adamw";
    return std::make_unique<nn::Adam>(std::move(params), o);
  }
  throw engine::Error("unknown optimizer '" + name + "' (available: adam, adamw, sgd)");
}

nn::LinearWarmupDecay make_schedule(const Flags& f, int64_t steps) {
  const std::string& s = f.get_string("schedule");
  LONGMIX_CHECK(s == "constant" || s == "linear",
                "unknown schedule '" << s << "' (available: constant, linear)");
  const int64_t warmup = f.get_int("warmup");
  LONGMIX_CHECK(warmup >= 0 && warmup <= steps, "--warmup must be in [0, --steps], got " << warmup);
  return nn::LinearWarmupDecay{f.get_double("lr"), warmup, steps, s == "linear"};
}

// One line of progress: rewritten in place on a terminal, a plain line otherwise.
class Progress {
 public:
  Progress(bool quiet, int64_t total) : quiet_(quiet), tty_(isatty(STDOUT_FILENO)), total_(total) {}
  void update(int64_t step, double loss, double acc, double lr, double seq_per_s, double eta) {
    if (quiet_) return;
    char line[256];
    std::snprintf(line, sizeof line,
                  "step %lld/%lld  loss %.4f  acc %.3f  lr %.2e  %.1f seq/s  ETA %s",
                  static_cast<long long>(step), static_cast<long long>(total_), loss, acc, lr,
                  seq_per_s, format_duration(eta).c_str());
    if (tty_)
      std::cout << "\r\033[K" << line << std::flush;
    else
      std::cout << line << "\n" << std::flush;
  }
  void message(const std::string& text) {
    if (quiet_) return;
    if (tty_) std::cout << "\r\033[K";
    std::cout << text << "\n" << std::flush;
  }

 private:
  bool quiet_, tty_;
  int64_t total_;
};

}  // namespace

EvalResult evaluate(Model& model, const Task& task, Split split, int64_t batch_size, const Pretraining& pretraining) {
  engine::NoGradGuard no_grad;
  model.module().eval();
  // Under MPI the ranks take turns over the batches and sum what they found.
  Distributed& world = Distributed::world();
  EvalResult r;
  double totals[3] = {0, 0, 0};  // loss sum, correct, scored
  const int64_t n = task.split_size(split);
  for (int64_t first = 0, index = 0; first < n; first += batch_size, ++index) {
    if (index % world.size() != world.rank()) continue;
    const int64_t count = std::min(batch_size, n - first);
    const Batch b = task.batch(split, first, count);
    const BatchOutcome o = run_batch(model, task, b, pretraining, mask_seed(pretraining, split, first));
    totals[0] += o.loss.item() * static_cast<double>(o.scored);
    totals[1] += static_cast<double>(o.correct);
    totals[2] += static_cast<double>(o.scored);
  }
  world.sum(totals, 3);
  model.module().train();
  r.examples = static_cast<int64_t>(totals[2]);
  r.loss = totals[0] / std::max(totals[2], 1.0);
  r.accuracy = totals[1] / std::max(totals[2], 1.0);
  return r;
}

void add_train_flags(Flags& f) {
  add_model_flags(f);
  add_task_flags(f);
  add_pretraining_flags(f);
  f.add_int("steps", 1500, "training steps");
  f.add_int("batch", 64, "examples per step");
  f.add_double("lr", 1e-3, "peak learning rate");
  f.add_string("optimizer", "adam", "adam, adamw or sgd");
  f.add_double("momentum", 0.9, "sgd momentum");
  f.add_double("weight-decay", 0, "L2 (adam, sgd) or decoupled (adamw) weight decay");
  f.add_string("schedule", "constant", "learning rate after warm-up: constant or linear (decay to 0)");
  f.add_int("warmup", 0, "linear warm-up steps");
  f.add_double("clip", 0, "clip the global gradient norm to this (0: off)");
  f.add_bool("skip-nonfinite", false, "skip a step whose loss or gradient is NaN or infinite (default: stop, naming the step and parameter)");
  f.add_int("seed", 0, "seed for initialization, dropout and (unless --data-seed is given) the data");
  f.add_int("threads", 0, "threads for our kernels and oneDNN (0: OMP_NUM_THREADS or all cores)");
  f.add_string("out", "", "run directory for metrics.jsonl and config.json (default runs/MODEL-TASK)");
  f.add_int("eval-every", 500, "evaluate on the validation split every this many steps (0: only at the end)");
  f.add_int("eval-batch", 256, "batch size for evaluation");
  f.add_int("log-every", 100, "print and record training metrics every this many steps");
  f.add_int("save-every", 0, "write a checkpoint into the run directory every this many steps and at the end (0: never)");
  f.add_int("keep-checkpoints", 3, "how many of the newest checkpoints to keep");
  f.add_bool("keep-best", false, "keep the parameters of the best validation accuracy (at every --eval-every and the end) in DIR/best.safetensors and report the test split on them too (LRA's protocol)");
  f.add_string("config", "", "a JSON file of flag values (\"lr\": 1e-3, ...); flags given on the command line win");
  f.add_string("init-from", "", "start from the parameters of this checkpoint (e.g. of a --pretrain masked-tokens run) that the model shares with it; the rest keep their fresh initialization");
  f.add_string("resume", "", "continue the run in this directory from its newest checkpoint (with --steps: up to that many in all)");
}

namespace {

// What every rank must agree on: the resolved flags but --threads (per rank).
std::string configuration_without_threads(const Flags& f) {
  std::string text;
  for (const auto& [name, value] : f.resolved())
    if (name != "threads") text += name + "=" + value + "\n";
  return text;
}

// Flags a resumed run may change: how long it goes on and how it reports, never what it computes.
bool changeable_on_resume(const std::string& name) {
  for (const char* n : {"steps", "threads", "log-every", "eval-every", "eval-batch", "save-every", "keep-checkpoints"})
    if (name == n) return true;
  return false;
}

// --resume DIR: the run's own configuration comes back from its newest checkpoint; only the
// flags of changeable_on_resume may be given again.
RunCheckpoint resume_configuration(Flags& f) {
  const std::string dir = f.get_string("resume");
  const std::string path = latest_run_checkpoint(dir);
  LONGMIX_CHECK(!path.empty(), "--resume " << dir << ": no checkpoint-*.safetensors there (was it run with --save-every?)");
  RunCheckpoint c = read_run_checkpoint(path);
  for (const std::string& name : f.names_set())
    LONGMIX_CHECK(name == "resume" || changeable_on_resume(name),
                  "--resume takes the run's configuration from its checkpoint; --"
                      << name << " cannot change (--steps, --threads and the logging, evaluation and checkpoint"
                                 " intervals can)");
  apply_checkpoint_config(c, f);
  f.set("out", dir);
  return c;
}

}  // namespace

TrainResult train(Flags f, bool quiet) {
  const bool resuming = !f.get_string("resume").empty();
  const RunCheckpoint checkpoint = resuming ? resume_configuration(f) : RunCheckpoint{};
  if (!resuming && !f.get_string("config").empty()) apply_config_file(f.get_string("config"), f);
  const std::string preset = resuming ? "" : apply_presets(f);
  const int64_t steps = f.get_int("steps"), batch = f.get_int("batch");
  const int64_t eval_every = f.get_int("eval-every"), eval_batch = f.get_int("eval-batch");
  const int64_t log_every = f.get_int("log-every");
  const int64_t save_every = f.get_int("save-every"), keep = f.get_int("keep-checkpoints");
  LONGMIX_CHECK(save_every >= 0, "--save-every must be >= 0, got " << save_every);
  LONGMIX_CHECK(keep >= 1, "--keep-checkpoints must be >= 1, got " << keep);
  LONGMIX_CHECK(!resuming || steps >= checkpoint.step,
                "--steps " << steps << " is fewer than the " << checkpoint.step << " steps " << checkpoint.path
                           << " has already taken");
  const double clip = f.get_double("clip");
  const bool skip_nonfinite = f.get_bool("skip-nonfinite");
  LONGMIX_CHECK(steps >= 1, "--steps must be >= 1, got " << steps);
  LONGMIX_CHECK(batch >= 1, "--batch must be >= 1, got " << batch);
  LONGMIX_CHECK(f.get_double("lr") > 0, "--lr must be > 0, got " << f.get_double("lr"));
  LONGMIX_CHECK(eval_every >= 0, "--eval-every must be >= 0, got " << eval_every);
  LONGMIX_CHECK(eval_batch >= 1, "--eval-batch must be >= 1, got " << eval_batch);
  LONGMIX_CHECK(log_every >= 1, "--log-every must be >= 1, got " << log_every);
  LONGMIX_CHECK(clip >= 0, "--clip must be >= 0, got " << clip);
  LONGMIX_CHECK(f.get_int("seed") >= 0, "--seed must be >= 0, got " << f.get_int("seed"));
  engine::set_num_threads(static_cast<int>(f.get_int("threads")));

  // Data parallelism: rank r of K trains on rows [r * B/K, (r+1) * B/K) of every global batch.
  Distributed& world = Distributed::world();
  LONGMIX_CHECK(batch % world.size() == 0, "--batch " << batch << " (the global batch) must split evenly over the "
                                                       << world.size() << " ranks");
  const int64_t local_batch = batch / world.size();
  engine::set_batch_shard(world.rank());
  world.check_same("the configuration", configuration_without_threads(f));
  quiet = quiet || !world.is_root();

  const std::unique_ptr<Task> task = make_task(f);
  engine::Rng init_rng(engine::splitmix64(static_cast<uint64_t>(f.get_int("seed")) + 17));
  const std::unique_ptr<Model> model = make_model(f, *task, init_rng);
  nn::Module& module = model->module();
  const Pretraining pretraining = pretraining_from_flags(f);
  // A resumed run's parameters come from its own checkpoint instead.
  const std::string init_from = resuming ? "" : f.get_string("init-from");
  const Initialization initialization =
      init_from.empty() ? Initialization{} : initialize_from_checkpoint(read_run_checkpoint(init_from), module);
  const auto optimizer = make_optimizer(f, module.named_parameters());
  const nn::LinearWarmupDecay schedule = make_schedule(f, steps);

  std::string out_dir = f.get_string("out");
  if (out_dir.empty()) out_dir = "runs/" + f.get_string("model") + "-" + task->name();
  std::optional<MetricsLog> log;  // rank 0 alone writes the run directory
  if (world.is_root()) {
    std::error_code ec;
    std::filesystem::create_directories(out_dir, ec);
    LONGMIX_CHECK(!ec, "cannot create run directory " << out_dir << ": " << ec.message());
    std::ofstream config(out_dir + "/config.json");
    config << f.resolved_json() << "\n";
    LONGMIX_CHECK(config.good(), "cannot write " << out_dir << "/config.json");
    if (resuming) drop_metrics_after(out_dir + "/metrics.jsonl", checkpoint.step);
    log.emplace(out_dir + "/metrics.jsonl", resuming);
  }
  auto record = [&](const std::string& split, int64_t step, const std::vector<std::pair<std::string, double>>& values) {
    if (log) log->write(split, step, values);
  };
  if (resuming) restore_run_checkpoint(checkpoint, module, optimizer.get());
  Progress progress(quiet, steps);
  if (!preset.empty()) progress.message(preset);
  progress.message("config: " + f.resolved_json());
  if (!init_from.empty()) {
    std::string fresh;
    for (const std::string& name : initialization.fresh) fresh += (fresh.empty() ? "" : ", ") + name;
    progress.message("initialized " + std::to_string(initialization.loaded.size()) + " parameter tensors from " +
                     init_from + (fresh.empty() ? "" : "; fresh: " + fresh) +
                     (initialization.unused.empty() ? "" : "; " + std::to_string(initialization.unused.size()) +
                                                               " of its tensors unused"));
  }
  if (resuming) progress.message("resuming from " + checkpoint.path + " at step " + std::to_string(checkpoint.step));
  progress.message("longmix train: model " + f.get_string("model") + " (" +
                   std::to_string(module.num_parameters()) + " parameters), task " + task->name() +
                   (world.active() ? ", " + std::to_string(world.size()) + " MPI ranks x " : ", ") +
                   std::to_string(engine::num_threads()) + " threads, kernels " +
                   engine::isa_name(engine::active_isa()) + ", run directory " + out_dir);

  TrainResult result;
  BestSoFar best(f.get_bool("keep-best"));
  if (best.on() && resuming && std::filesystem::exists(best_checkpoint_path(out_dir)))
    best.resume_from(read_run_checkpoint(best_checkpoint_path(out_dir)), module);
  // Every rank sees the same validation accuracy (evaluate sums over ranks), so all keep alike.
  auto consider_best = [&](int64_t step, double val_accuracy) {
    if (!best.improves(val_accuracy)) return;
    best.keep(step, val_accuracy, module);
    if (world.is_root()) save_best_checkpoint(out_dir, step, val_accuracy, module, *optimizer, f);
  };
  double communication_s = 0;
  std::vector<Tensor> params;
  for (const auto& [name, p] : optimizer->params()) params.push_back(p);
  const Clock::time_point start = Clock::now();
  double window_loss = 0;
  int64_t window_correct = 0, window_predictions = 0, window_steps = 0, window_scored = 0;
  Clock::time_point window_start = start;
  module.train();
  for (int64_t step = checkpoint.step + 1; step <= steps; ++step) {
    const int64_t first = (step - 1) * batch + world.rank() * local_batch;
    const Batch b = task->batch(Split::train, first, local_batch);
    const double lr = schedule.lr(step - 1);
    module.zero_grad();
    const BatchOutcome o = run_batch(*model, *task, b, pretraining, mask_seed(pretraining, Split::train, first));
    // The global batch's loss and counts (every rank gets the same, so all stop together).
    double totals[3] = {o.loss.item(), static_cast<double>(o.correct), static_cast<double>(o.scored)};
    world.sum(totals, 3);
    const double loss = totals[0] / world.size();
    LONGMIX_CHECK(std::isfinite(loss) || skip_nonfinite,
                  "training stopped: the loss is " << loss << " at step " << step
                                                   << " (try a lower --lr or --clip, or --skip-nonfinite)");
    engine::backward(o.loss);
    communication_s += world.average_gradients(params);
    // After the all-reduce every rank sees the same gradients, so all decide alike.
    const std::string bad = std::isfinite(loss) ? first_nonfinite_gradient(optimizer->params()) : "(the loss)";
    if (!bad.empty()) {
      LONGMIX_CHECK(skip_nonfinite, "training stopped at step " << step << ": the gradient of " << bad
                                        << " is not finite (NaN or infinite; try a lower --lr or --clip, or"
                                           " --skip-nonfinite)");
      ++result.skipped_steps;
      record("skipped", step, {{"loss", loss}});
      progress.message("step " + std::to_string(step) + " skipped: the gradient of " + bad + " is not finite");
    }
    const double grad_norm = bad.empty() && clip > 0 ? nn::clip_grad_norm(optimizer->params(), clip) : 0;
    if (bad.empty()) optimizer->step(lr);

    result.train_losses.push_back(loss);
    if (bad.empty()) {  // a skipped step's NaN would make the window's mean NaN
      window_loss += loss;
      window_correct += static_cast<int64_t>(totals[1]);
      window_predictions += static_cast<int64_t>(totals[2]);
      ++window_scored;
    }
    ++window_steps;
    if (step % log_every == 0 || step == steps) {
      const double elapsed = seconds_since(start), window = seconds_since(window_start);
      const double seq_per_s = static_cast<double>(window_steps * batch) / std::max(window, 1e-9);
      // A window whose every step was skipped has no loss: NaN, written as null, not 0.
      const double scored = window_scored > 0 ? static_cast<double>(window_scored) : std::nan("");
      const double mean_loss = window_loss / scored;
      const double acc = window_predictions > 0 ? static_cast<double>(window_correct) / static_cast<double>(window_predictions)
                                                : std::nan("");
      std::vector<std::pair<std::string, double>> values{
          {"loss", mean_loss}, {"accuracy", acc}, {"lr", lr}, {"seq_per_s", seq_per_s},
          {"elapsed_s", elapsed}};
      if (clip > 0) values.emplace_back("grad_norm", grad_norm);
      if (world.active()) values.emplace_back("communication_s", communication_s);
      record("train", step, values);
      progress.update(step, mean_loss, acc, lr, seq_per_s,
                      elapsed / static_cast<double>(step - checkpoint.step) * static_cast<double>(steps - step));
      window_loss = 0;
      window_correct = window_predictions = window_steps = window_scored = 0;
      window_start = Clock::now();
    }
    if (save_every > 0 && (step % save_every == 0 || step == steps)) {
      world.check_same("the parameters at step " + std::to_string(step), std::to_string(parameter_digest(module)));
      if (world.is_root()) save_run_checkpoint(out_dir, step, module, *optimizer, f, keep);
    }
    if (eval_every > 0 && step % eval_every == 0 && step != steps) {
      const EvalResult v = evaluate(*model, *task, Split::val, eval_batch, pretraining);
      record("val", step, {{"loss", v.loss}, {"accuracy", v.accuracy}});
      char line[160];
      std::snprintf(line, sizeof line, "val step %lld: loss %.4f accuracy %.4f",
                    static_cast<long long>(step), v.loss, v.accuracy);
      progress.message(line);
      consider_best(step, v.accuracy);
    }
  }
  const EvalResult v = evaluate(*model, *task, Split::val, eval_batch, pretraining);
  record("val", steps, {{"loss", v.loss}, {"accuracy", v.accuracy}});
  consider_best(steps, v.accuracy);
  result.test = evaluate(*model, *task, Split::test, eval_batch, pretraining);
  result.parameter_digest = parameter_digest(module);
  result.seconds = seconds_since(start);
  record("test", steps, {{"loss", result.test.loss}, {"accuracy", result.test.accuracy},
                         {"examples", static_cast<double>(result.test.examples)},
                         {"elapsed_s", result.seconds}, {"communication_s", communication_s}});
  result.communication_seconds = communication_s;
  char line[256];
  std::snprintf(line, sizeof line,
                "test: loss %.4f accuracy %.4f on %lld examples (standard error %.4f; val accuracy %.4f) "
                "after %lld steps in %.1f s",
                result.test.loss, result.test.accuracy, static_cast<long long>(result.test.examples),
                result.test.accuracy_standard_error(), v.accuracy, static_cast<long long>(steps), result.seconds);
  progress.message(line);
  if (best.on()) {  // the final model's numbers are above; its parameters are not needed after
    best.restore_into(module);
    result.best_step = best.step();
    result.best_val_accuracy = best.val_accuracy();
    result.best_test = evaluate(*model, *task, Split::test, eval_batch, pretraining);
    record("test_best", best.step(), {{"loss", result.best_test.loss}, {"accuracy", result.best_test.accuracy},
                                      {"val_accuracy", best.val_accuracy()},
                                      {"examples", static_cast<double>(result.best_test.examples)}});
    std::snprintf(line, sizeof line,
                  "test at the best validation accuracy (%.4f, step %lld, %s): loss %.4f accuracy %.4f",
                  best.val_accuracy(), static_cast<long long>(best.step()), best_checkpoint_path(out_dir).c_str(),
                  result.best_test.loss, result.best_test.accuracy);
    progress.message(line);
  }
  if (world.active()) {
    std::snprintf(line, sizeof line, "communication: %.2f s of %.1f s (%.1f%%) in gradient all-reduces over %d ranks",
                  communication_s, result.seconds, 100 * communication_s / std::max(result.seconds, 1e-9), world.size());
    progress.message(line);
  }
  return result;
}

int train_main(int argc, const char* const* argv) {
  Flags flags;
  add_train_flags(flags);
  flags.parse(argc, argv, 1);
  if (flags.help_requested()) {
    std::cout << "usage: longmix train [flags]\n\n"
                 "With --model paramixer and --task adding or order, every flag you do not give takes\n"
                 "the published preset (printed at start); the defaults below apply otherwise.\n\n"
              << flags.help_text();
    return 0;
  }
  train(flags);
  return 0;
}

}  // namespace apps
