#include "ops/attention/heads.h"

#include <cstring>

#include "engine/parallel.h"
#include "engine/tape.h"

namespace ops {
namespace {

using engine::Tensor;

// For every (b, n, head): copies d elements between model row (b, n) at column offset
// `column0 + head * d` (row length `row_len`) and attention row (b * heads + head, n).
template <class T>
void copy_heads(int64_t B, int64_t N, int64_t heads, int64_t d, int64_t row_len, int64_t column0, const T* src,
                T* dst, bool to_attention, bool add) {
  engine::parallel_for(B * N, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / N, n = r % N;
      for (int64_t h = 0; h < heads; ++h) {
        const int64_t model = r * row_len + column0 + h * d, attn = ((b * heads + h) * N + n) * d;
        const T* s = src + (to_attention ? model : attn);
        T* o = dst + (to_attention ? attn : model);
        // Plain loops: rows are short (d ~ 32), where a memcpy call costs more than the copy.
        if (add)
          for (int64_t t = 0; t < d; ++t) o[t] += s[t];
        else
          for (int64_t t = 0; t < d; ++t) o[t] = s[t];
      }
    }
  });
}

}  // namespace

Tensor split_heads(const Tensor& x, int64_t heads, int64_t part, int64_t parts) {
  engine::check_float(x, "split_heads", "x");
  LONGMIX_CHECK(x.ndim() == 3 && heads >= 1 && parts >= 1 && part >= 0 && part < parts &&
                    x.dim(2) % (heads * parts) == 0,
                "split_heads: x " << x.shape() << " cannot be cut into " << parts << " parts of " << heads << " heads");
  const int64_t B = x.dim(0), N = x.dim(1), row = x.dim(2), d = row / (heads * parts), col0 = part * heads * d;
  Tensor out = Tensor::empty({B * heads, N, d}, x.dtype());
  engine::dispatch_float(x.dtype(), "split_heads", [&](auto zero) {
    using T = decltype(zero);
    copy_heads<T>(B, N, heads, d, row, col0, x.data<T>(), out.data<T>(), true, false);
  });
  engine::record("split_heads", out, {x}, [=](const Tensor& dout, engine::Grads& g) {
    if (!g.needs(0)) return;
    Tensor dx = g.at(0);
    engine::dispatch_float(dout.dtype(), "split_heads", [&](auto zero) {
      using T = decltype(zero);
      copy_heads<T>(B, N, heads, d, row, col0, dout.data<T>(), dx.data<T>(), false, true);
    });
  });
  return out;
}

Tensor merge_heads(const Tensor& x, int64_t heads) {
  engine::check_float(x, "merge_heads", "x");
  LONGMIX_CHECK(x.ndim() == 3 && heads >= 1 && x.dim(0) % heads == 0,
                "merge_heads: x " << x.shape() << " does not have a multiple of " << heads << " batch-heads");
  const int64_t B = x.dim(0) / heads, N = x.dim(1), d = x.dim(2);
  Tensor out = Tensor::empty({B, N, heads * d}, x.dtype());
  engine::dispatch_float(x.dtype(), "merge_heads", [&](auto zero) {
    using T = decltype(zero);
    copy_heads<T>(B, N, heads, d, heads * d, 0, x.data<T>(), out.data<T>(), false, false);
  });
  engine::record("merge_heads", out, {x}, [=](const Tensor& dout, engine::Grads& g) {
    if (!g.needs(0)) return;
    engine::GradTarget dx = g.whole(0);  // every element is some head's
    engine::dispatch_float(dout.dtype(), "merge_heads", [&](auto zero) {
      using T = decltype(zero);
      copy_heads<T>(B, N, heads, d, heads * d, 0, dout.data<T>(), dx.grad.data<T>(), true, dx.accumulate);
    });
  });
  return out;
}

}  // namespace ops
