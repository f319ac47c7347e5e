#include "engine/op_profile.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace engine {

OpProfile* OpProfile::instance() {
  static OpProfile* p = [] {
    const char* env = std::getenv("LONGMIX_PROFILE");
    return env && *env && std::string(env) != "0" ? new OpProfile : nullptr;
  }();
  return p;
}

double OpProfile::now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

OpProfile::OpProfile() { std::atexit(print_at_exit); }

void OpProfile::forward(const char* op) {
  const double t = now();
  if (last_ > 0) add(op, 0, t - last_);
  last_ = t;
}

void OpProfile::backward(const char* op, double seconds) { add(op, 1, seconds); }

void OpProfile::mark() { last_ = now(); }

OpProfile::Pause::Pause() {
  if (OpProfile* p = instance()) ++p->paused_;
}

OpProfile::Pause::~Pause() {
  if (OpProfile* p = instance()) --p->paused_;
}

void OpProfile::add(const char* op, int pass, double seconds) {
  if (paused_ > 0) return;
  times_[op][static_cast<size_t>(pass)] += seconds;
  if (pass == 0) ++calls_[op];
}

void OpProfile::print_at_exit() {
  OpProfile* p = instance();
  double total = 0;
  for (auto& [op, t] : p->times_) total += t[0] + t[1];
  std::fprintf(stderr, "\nLONGMIX_PROFILE: seconds per op (forward is time since the previous op)\n");
  std::fprintf(stderr, "%-20s %10s %10s %8s %7s\n", "op", "forward", "backward", "calls", "share");
  for (auto& [op, t] : p->times_)
    std::fprintf(stderr, "%-20s %10.4f %10.4f %8lld %6.1f%%\n", op.c_str(), t[0], t[1],
                 static_cast<long long>(p->calls_[op]), 100 * (t[0] + t[1]) / std::max(total, 1e-12));
}

}  // namespace engine
