#include "ops/softmax.h"

#include <cmath>

#include "engine/parallel.h"
#include "engine/tape.h"

namespace ops {
namespace {

// y = softmax(x) or log_softmax(x) per row of length C.
template <class T>
void forward_rows(int64_t rows, int64_t C, const T* x, T* y, bool log_space) {
  engine::parallel_for(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(C, 1)),
                       [&](int64_t r0, int64_t r1) {
                         for (int64_t r = r0; r < r1; ++r) {
                           const T* xr = x + r * C;
                           T* yr = y + r * C;
                           T m = xr[0];
                           for (int64_t j = 1; j < C; ++j) m = std::max(m, xr[j]);
                           T s = 0;
                           for (int64_t j = 0; j < C; ++j) s += std::exp(xr[j] - m);
                           if (log_space) {
                             const T lse = m + std::log(s);
                             for (int64_t j = 0; j < C; ++j) yr[j] = xr[j] - lse;
                           } else {
                             const T inv = T(1) / s;
                             for (int64_t j = 0; j < C; ++j) yr[j] = std::exp(xr[j] - m) * inv;
                           }
                         }
                       });
}

// softmax:     dx = y * (dy - sum(dy * y))
// log_softmax: dx = dy - exp(y) * sum(dy)
template <class T>
void backward_rows(int64_t rows, int64_t C, const T* y, const T* dy, T* dx, bool log_space) {
  engine::parallel_for(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(C, 1)),
                       [&](int64_t r0, int64_t r1) {
                         for (int64_t r = r0; r < r1; ++r) {
                           const T* yr = y + r * C;
                           const T* dyr = dy + r * C;
                           T* dxr = dx + r * C;
                           T dot = 0;
                           for (int64_t j = 0; j < C; ++j) dot += log_space ? dyr[j] : dyr[j] * yr[j];
                           for (int64_t j = 0; j < C; ++j)
                             dxr[j] += log_space ? dyr[j] - std::exp(yr[j]) * dot
                                                 : yr[j] * (dyr[j] - dot);
                         }
                       });
}

Tensor softmax_impl(const char* name, const Tensor& x, bool log_space) {
  engine::check_float(x, name, "x");
  LONGMIX_CHECK(x.ndim() >= 1 && x.dim(-1) > 0, name << ": needs a non-empty last axis, got "
                                                     << x.shape());
  const int64_t C = x.dim(-1), rows = x.numel() / C;
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  engine::dispatch_float(x.dtype(), name, [&](auto zero) {
    using T = decltype(zero);
    forward_rows<T>(rows, C, x.data<T>(), y.data<T>(), log_space);
  });
  const Tensor y_saved = y.detach();
  engine::record(name, y, {x}, [=](const Tensor& dy, engine::Grads& g) {
    if (!g.needs(0)) return;
    Tensor dx = g.at(0);
    engine::dispatch_float(dy.dtype(), name, [&](auto zero) {
      using T = decltype(zero);
      backward_rows<T>(rows, C, y_saved.data<T>(), dy.data<T>(), dx.data<T>(), log_space);
    });
  });
  return y;
}

}  // namespace

Tensor softmax(const Tensor& x) { return softmax_impl("softmax", x, false); }
Tensor log_softmax(const Tensor& x) { return softmax_impl("log_softmax", x, true); }

}  // namespace ops
