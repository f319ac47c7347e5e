#include "apps/distributed.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "engine/check.h"

#ifdef LONGMIX_WITH_MPI
#include <mpi.h>
#endif

namespace apps {
namespace {

// Gradients go in buckets of this many floats: few, large reductions (the latency of one is
// paid a handful of times per step), each small enough to bound MPI's internal buffers.
constexpr int64_t kBucketFloats = int64_t{16} << 20;

uint64_t fnv1a(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace

bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(name)) return true;
  return false;
}

bool Distributed::compiled_with_mpi() {
#ifdef LONGMIX_WITH_MPI
  return true;
#else
  return false;
#endif
}

Distributed& Distributed::world() {
  static Distributed d;
  return d;
}

Distributed::Distributed() {
#ifdef LONGMIX_WITH_MPI
  if (!launched_by_mpi()) return;
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  initialized_ = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
#else
  if (launched_by_mpi() && std::getenv("OMPI_COMM_WORLD_RANK") && std::string(std::getenv("OMPI_COMM_WORLD_SIZE")) != "1")
    std::cerr << "longmix: started by mpirun, but this build has no MPI support (install libopenmpi-dev and "
                 "rebuild): every rank would train alone\n";
#endif
}

Distributed::~Distributed() {
#ifdef LONGMIX_WITH_MPI
  if (initialized_) MPI_Finalize();
#endif
}

double Distributed::average_gradients(const std::vector<engine::Tensor>& params) {
  if (!active()) return 0;
#ifdef LONGMIX_WITH_MPI
  int64_t total = 0;
  for (const engine::Tensor& p : params) total += p.numel();
  bucket_.resize(static_cast<size_t>(total));
  int64_t at = 0;
  for (const engine::Tensor& p : params) {  // a parameter without a gradient contributes zeros
    const float* g = p.grad().defined() ? p.grad().data<float>() : nullptr;
    if (g) std::memcpy(bucket_.data() + at, g, static_cast<size_t>(p.numel()) * sizeof(float));
    else std::memset(bucket_.data() + at, 0, static_cast<size_t>(p.numel()) * sizeof(float));
    at += p.numel();
  }
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t first = 0; first < total; first += kBucketFloats) {
    const int count = static_cast<int>(std::min(kBucketFloats, total - first));
    MPI_Allreduce(MPI_IN_PLACE, bucket_.data() + first, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const float scale = 1.f / static_cast<float>(size_);
  at = 0;
  for (const engine::Tensor& p : params) {
    engine::Tensor g = p.grad();
    if (g.defined()) {
      float* out = g.data<float>();
      for (int64_t i = 0; i < p.numel(); ++i) out[i] = bucket_[static_cast<size_t>(at + i)] * scale;
    }
    at += p.numel();
  }
  return seconds;
#else
  (void)params;
  return 0;
#endif
}

void Distributed::sum(double* values, int count) {
  if (!active()) return;
#ifdef LONGMIX_WITH_MPI
  MPI_Allreduce(MPI_IN_PLACE, values, count, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
#endif
}

std::vector<uint64_t> Distributed::all_gather(uint64_t value) {
  std::vector<uint64_t> all(static_cast<size_t>(size_), value);
#ifdef LONGMIX_WITH_MPI
  if (active()) MPI_Allgather(&value, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD);
#endif
  return all;
}

void Distributed::check_same(const std::string& what, const std::string& text) {
  if (!active()) return;
  const std::vector<uint64_t> all = all_gather(fnv1a(text));
  std::string differing;
  for (int r = 1; r < size_; ++r)
    if (all[static_cast<size_t>(r)] != all[0]) differing += (differing.empty() ? "" : ", ") + std::to_string(r);
  LONGMIX_CHECK(differing.empty(), "the ranks disagree on " << what << ": rank(s) " << differing
                                                             << " differ from rank 0 (start every rank with the same flags"
                                                                " and files)");
}

void Distributed::barrier() {
#ifdef LONGMIX_WITH_MPI
  if (active()) MPI_Barrier(MPI_COMM_WORLD);
#endif
}

void Distributed::abort(const std::string& message, int code) {
  std::cerr << message << std::flush;
#ifdef LONGMIX_WITH_MPI
  if (active()) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

}  // namespace apps
