// Data-parallel training across processes over MPI. Under `mpirun -np K`, every rank holds the
// whole model, trains on its own shard of each global batch, and the ranks sum their gradients
// with MPI_Allreduce before every optimizer step, so K ranks follow the trajectory of one
// process with the same global batch. Without MPI (not compiled in, or not launched by
// mpirun) this is a group of one and every call is free.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace apps {

class Distributed {
 public:
  // The process group: initializes MPI on first use when this process was started by an MPI
  // launcher and MPI support is compiled in.
  static Distributed& world();

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }
  bool active() const { return size_ > 1; }
  static bool compiled_with_mpi();

  // Sums the tensors' gradients over ranks and divides by the rank count (the mean of the
  // ranks' gradients), in place, in a few large reductions over a flat buffer in tensor
  // order. Returns the seconds spent communicating.
  double average_gradients(const std::vector<engine::Tensor>& params);
  // Sum over ranks of a few doubles (losses, counts), in place.
  void sum(double* values, int count);
  // Refuses to go on (engine::Error, naming the ranks) unless every rank passed the same text.
  void check_same(const std::string& what, const std::string& text);
  // Every rank's value, on every rank.
  std::vector<uint64_t> all_gather(uint64_t value);
  void barrier();
  // Ends the whole job: prints the message (naming this rank) and calls MPI_Abort, so that a
  // failing rank never leaves the others waiting in a reduction.
  [[noreturn]] void abort(const std::string& message, int code);
  ~Distributed();

 private:
  Distributed();
  int rank_ = 0, size_ = 1;
  bool initialized_ = false;
  std::vector<float> bucket_;  // the flat gradient buffer, kept between steps
};

// Whether an MPI launcher (mpirun, srun) started this process, from its environment.
bool launched_by_mpi();

}  // namespace apps
