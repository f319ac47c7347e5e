// LONGMIX_PROFILE=1: seconds per op, forward and backward, printed to stderr at exit.
// An op's forward time is the time since the previous record() on this thread (its compute
// happens just before it records), so code between ops (data loading, the optimizer) is
// charged to the next op; the backward time is exact.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <string>

namespace engine {

class OpProfile {
 public:
  static OpProfile* instance();  // nullptr unless LONGMIX_PROFILE is set (and not "0")
  static double now();
  void forward(const char* op);  // called by record()
  void backward(const char* op, double seconds);
  void mark();                   // the end of a backward pass: the next forward starts here

  // Within a Pause nothing is recorded: a benchmark's warm-up run, whose first-touch page
  // faults and primitive creation would be charged to whichever op met them (Paramixer's
  // step at N = 1024, 1 thread, 5 timed steps: the chain's forward read 0.244 s with the
  // warm-up counted, 0.044 s without).
  class Pause {
   public:
    Pause();
    ~Pause();
    Pause(const Pause&) = delete;
    Pause& operator=(const Pause&) = delete;
  };

 private:
  OpProfile();
  static void print_at_exit();
  void add(const char* op, int pass, double seconds);
  std::map<std::string, std::array<double, 2>> times_;
  std::map<std::string, int64_t> calls_;
  double last_ = 0;
  int paused_ = 0;  // open Pause scopes
};

}  // namespace engine
