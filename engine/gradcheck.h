// Gradient checking, public API: compare backward() with central finite differences.
//
//   Tensor w = Tensor::randn({4, 3}, rng, DType::f64).set_requires_grad();
//   auto r = engine::gradcheck([&] { return my_op(w); }, {w});
//   if (!r.ok) std::cerr << r.report;
//
// The scalar that is differentiated is a weighted loss L = sum(out * R) with a fixed random R,
// never a plain sum: a plain sum hides wrong gradients of softmax-like ops (their rows of dY
// sum to zero). `f` must recompute its output from the inputs' current values on every call.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace engine {

struct GradcheckOptions {
  double eps = 1e-6;     // PyTorch's defaults for float64
  double atol = 1e-5;
  double rtol = 1e-3;
  int64_t max_coords = 64;  // coordinates sampled per input (all of them when fewer)
  uint64_t seed = 1234;     // for R and the sampled coordinates
  static GradcheckOptions for_dtype(DType dtype);  // float32: eps 1e-3, atol 1e-2, rtol 1e-2
};

struct GradcheckInputReport {
  std::string name;          // as passed, or "input <i>"
  Shape shape;
  int64_t coords_checked = 0;
  double worst_abs_error = 0;  // max |analytic - numeric|
  double worst_rel_error = 0;  // max |analytic - numeric| / max(|numeric|, atol)
  int64_t worst_coord = -1;    // flat index of the coordinate with the largest excess error
  double analytic_at_worst = 0, numeric_at_worst = 0;
  bool ok = true;
};

struct GradcheckResult {
  bool ok = true;
  std::vector<GradcheckInputReport> inputs;
  std::string report;  // one line per input; names the worst coordinate
};

GradcheckResult gradcheck(const std::function<Tensor()>& f, std::vector<Tensor> inputs,
                          const GradcheckOptions& options = {},
                          const std::vector<std::string>& names = {});

// Multi-index text of a flat index, e.g. "[0,7,2]".
std::string index_str(const Shape& shape, int64_t flat);

}  // namespace engine
