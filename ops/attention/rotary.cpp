#include "ops/attention/rotary.h"

#include <cmath>

#include "engine/check.h"
#include "engine/parallel.h"
#include "engine/tape.h"

namespace ops {
namespace {

using engine::Tensor;

// Rotates every row's pairs by +angle (forward) or -angle (backward: the transpose). Each
// output row depends on its own input row only, so any split over rows gives the same bits.
template <class T>
void rotate_rows(const T* src, T* dst, int64_t rows, const RotaryTable& table, bool inverse, bool accumulate) {
  const int64_t N = table.seq_len(), half = table.head_dim() / 2;
  const T sign = inverse ? T(-1) : T(1);
  engine::parallel_for(rows, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const double *c = table.cos_row(r % N), *s = table.sin_row(r % N);
      const T* x = src + r * 2 * half;
      T* y = dst + r * 2 * half;
      for (int64_t i = 0; i < half; ++i) {
        const T ci = static_cast<T>(c[i]), si = sign * static_cast<T>(s[i]);
        const T a = x[2 * i], b = x[2 * i + 1];
        const T ya = a * ci - b * si, yb = a * si + b * ci;
        y[2 * i] = accumulate ? y[2 * i] + ya : ya;
        y[2 * i + 1] = accumulate ? y[2 * i + 1] + yb : yb;
      }
    }
  });
}

}  // namespace

RotaryTable::RotaryTable(int64_t seq_len, int64_t head_dim, double base) : seq_len_(seq_len), head_dim_(head_dim) {
  LONGMIX_CHECK(seq_len >= 1 && head_dim >= 2 && head_dim % 2 == 0 && base > 1,
                "rotary: needs N >= 1 and an even head width >= 2, got N " << seq_len << ", d " << head_dim);
  const int64_t half = head_dim / 2;
  cos_.resize(static_cast<size_t>(seq_len * half));
  sin_.resize(cos_.size());
  for (int64_t n = 0; n < seq_len; ++n) {
    for (int64_t i = 0; i < half; ++i) {
      const double angle = static_cast<double>(n) * std::pow(base, -2.0 * static_cast<double>(i) / head_dim);
      cos_[static_cast<size_t>(n * half + i)] = std::cos(angle);
      sin_[static_cast<size_t>(n * half + i)] = std::sin(angle);
    }
  }
}

Tensor rotary(const Tensor& x, const std::shared_ptr<const RotaryTable>& shared_table) {
  LONGMIX_CHECK(shared_table != nullptr, "rotary: no table");
  const RotaryTable& table = *shared_table;
  engine::check_float(x, "rotary", "x");
  LONGMIX_CHECK(x.ndim() == 3 && x.dim(1) == table.seq_len() && x.dim(2) == table.head_dim(),
                "rotary: x " << x.shape() << " is not (batch-heads, " << table.seq_len() << ", " << table.head_dim()
                             << ")");
  const int64_t rows = x.dim(0) * x.dim(1);
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  engine::dispatch_float(x.dtype(), "rotary", [&](auto zero) {
    using T = decltype(zero);
    rotate_rows<T>(x.data<T>(), out.data<T>(), rows, table, false, false);
  });
  engine::record("rotary", out, {x}, [kept = shared_table, rows](const Tensor& dout, engine::Grads& g) {
    if (!g.needs(0)) return;
    engine::GradTarget dx = g.whole(0);
    engine::dispatch_float(dout.dtype(), "rotary", [&](auto zero) {
      using T = decltype(zero);
      rotate_rows<T>(dout.data<T>(), dx.grad.data<T>(), rows, *kept, true, dx.accumulate);
    });
  });
  return out;
}

}  // namespace ops
