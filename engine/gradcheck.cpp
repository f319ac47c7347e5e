#include "engine/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <unordered_set>

#include "engine/rng.h"
#include "engine/tape.h"

namespace engine {
namespace {

double weighted_loss(const Tensor& out, const std::vector<double>& r) {
  double sum = 0;
  for (int64_t i = 0; i < out.numel(); ++i) sum += out.at_flat(i) * r[static_cast<size_t>(i)];
  return sum;
}

std::vector<int64_t> sample_coords(int64_t numel, int64_t max_coords, Rng& rng) {
  std::vector<int64_t> coords;
  if (numel <= max_coords) {
    for (int64_t i = 0; i < numel; ++i) coords.push_back(i);
    return coords;
  }
  std::unordered_set<int64_t> seen;
  while (static_cast<int64_t>(coords.size()) < max_coords) {
    const int64_t c = rng.randint(numel);
    if (seen.insert(c).second) coords.push_back(c);
  }
  std::sort(coords.begin(), coords.end());
  return coords;
}

double get(Tensor& t, int64_t i) { return t.at_flat(i); }
void set(Tensor& t, int64_t i, double v) {
  if (t.dtype() == DType::f32)
    t.data<float>()[i] = static_cast<float>(v);
  else
    t.data<double>()[i] = v;
}

}  // namespace

GradcheckOptions GradcheckOptions::for_dtype(DType dtype) {
  GradcheckOptions o;
  if (dtype == DType::f32) {
    o.eps = 1e-3;
    o.atol = 1e-2;
    o.rtol = 1e-2;
  }
  return o;
}

std::string index_str(const Shape& shape, int64_t flat) {
  std::vector<int64_t> idx(static_cast<size_t>(shape.ndim()));
  for (int a = shape.ndim() - 1; a >= 0; --a) {
    idx[static_cast<size_t>(a)] = flat % shape[a];
    flat /= shape[a];
  }
  std::ostringstream os;
  os << "[";
  for (size_t a = 0; a < idx.size(); ++a) os << (a ? "," : "") << idx[a];
  os << "]";
  return os.str();
}

GradcheckResult gradcheck(const std::function<Tensor()>& f, std::vector<Tensor> inputs,
                          const GradcheckOptions& opt, const std::vector<std::string>& names) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    check_float(inputs[i], "gradcheck", "input");
    inputs[i].set_requires_grad(true);
    inputs[i].zero_grad();
  }
  Rng rng(opt.seed);

  // Analytic gradients: one forward with the tape, one backward seeded with R.
  clear_tape();
  const Tensor out = f();
  check_float(out, "gradcheck", "output of f");
  Tensor r = Tensor::randn(out.shape(), rng, out.dtype());
  const std::vector<double> r_values = r.to_vector();
  backward(out, r);
  std::vector<Tensor> analytic;
  for (Tensor& in : inputs) {
    analytic.push_back(in.grad().defined() ? in.grad().clone()
                                           : Tensor::zeros(in.shape(), in.dtype()));
    in.zero_grad();
  }

  GradcheckResult result;
  std::ostringstream report;
  NoGradGuard no_grad;
  for (size_t n = 0; n < inputs.size(); ++n) {
    Tensor& x = inputs[n];
    GradcheckInputReport rep;
    rep.name = n < names.size() ? names[n] : "input " + std::to_string(n);
    rep.shape = x.shape();
    double worst_excess = -1;
    for (int64_t c : sample_coords(x.numel(), opt.max_coords, rng)) {
      const double original = get(x, c);
      set(x, c, original + opt.eps);
      const double plus = weighted_loss(f(), r_values);
      set(x, c, original - opt.eps);
      const double minus = weighted_loss(f(), r_values);
      set(x, c, original);
      const double numeric = (plus - minus) / (2 * opt.eps);
      const double a = analytic[n].at_flat(c);
      const double err = std::fabs(a - numeric);
      const double excess = err - (opt.atol + opt.rtol * std::fabs(numeric));
      rep.worst_abs_error = std::max(rep.worst_abs_error, err);
      rep.worst_rel_error = std::max(rep.worst_rel_error, err / std::max(std::fabs(numeric), opt.atol));
      if (excess > worst_excess || !std::isfinite(a) || !std::isfinite(numeric)) {
        worst_excess = std::isfinite(excess) ? excess : 1e300;
        rep.worst_coord = c;
        rep.analytic_at_worst = a;
        rep.numeric_at_worst = numeric;
      }
      if (!(excess <= 0)) rep.ok = false;
      ++rep.coords_checked;
    }
    result.ok = result.ok && rep.ok;
    report << rep.name << " " << rep.shape << ": " << (rep.ok ? "ok" : "FAIL") << ", "
           << rep.coords_checked << " coords, worst abs " << rep.worst_abs_error << " rel "
           << rep.worst_rel_error;
    if (rep.worst_coord >= 0)
      report << " at " << index_str(rep.shape, rep.worst_coord) << " (analytic "
             << rep.analytic_at_worst << " numeric " << rep.numeric_at_worst << ")";
    report << "\n";
    result.inputs.push_back(rep);
  }
  result.report = report.str();
  return result;
}

}  // namespace engine
