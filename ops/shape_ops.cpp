#include "ops/shape_ops.h"

#include <cstring>
#include <sstream>

#include "engine/parallel.h"
#include "engine/tape.h"

namespace ops {
namespace {

// Copies blocks between tensors viewed as (outer, axis_len, inner): `src` rows [0, len) go to
// `dst` rows [offset, offset + len) (or the other way with to_dst = false), optionally adding.
template <class T>
void copy_along_axis(int64_t outer, int64_t inner, const T* small, int64_t small_len, T* big,
                     int64_t big_len, int64_t offset, bool small_to_big, bool add) {
  engine::parallel_for(outer, 8, [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      T* b = big + (o * big_len + offset) * inner;
      const int64_t n = small_len * inner;
      T* s = const_cast<T*>(small) + o * n;
      if (small_to_big) {
        if (add)
          for (int64_t i = 0; i < n; ++i) b[i] += s[i];
        else
          std::memcpy(b, s, static_cast<size_t>(n) * sizeof(T));
      } else {
        if (add)
          for (int64_t i = 0; i < n; ++i) s[i] += b[i];
        else
          std::memcpy(s, b, static_cast<size_t>(n) * sizeof(T));
      }
    }
  });
}

}  // namespace

Tensor reshape(const Tensor& x, const std::vector<int64_t>& dims) {
  engine::check_float(x, "reshape", "x");
  std::ostringstream requested;
  requested << "(";
  for (size_t i = 0; i < dims.size(); ++i) requested << (i ? "," : "") << dims[i];
  requested << ")";
  LONGMIX_CHECK(dims.size() <= engine::Shape::kMaxDims,
                "reshape: " << requested.str() << " has more than " << engine::Shape::kMaxDims << " dims");
  engine::Shape shape;
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < static_cast<int>(dims.size()); ++i) {
    const int64_t d = dims[static_cast<size_t>(i)];
    LONGMIX_CHECK(d >= -1, "reshape: bad dimension " << d << " in " << requested.str());
    if (d == -1) {
      LONGMIX_CHECK(infer < 0, "reshape: more than one -1 in " << requested.str());
      infer = i;
    } else {
      known *= d;
    }
    shape.push_back(d == -1 ? 0 : d);
  }
  if (infer >= 0) {
    LONGMIX_CHECK(known > 0 && x.numel() % known == 0,
                  "reshape: cannot view " << x.shape() << " as " << requested.str());
    shape[infer] = x.numel() / known;
  }
  LONGMIX_CHECK(shape.numel() == x.numel(), "reshape: cannot view " << x.shape() << " as " << requested.str());
  Tensor y = x.reshape_view(shape);
  engine::record("reshape", y, {x}, [](const Tensor& dy, engine::Grads& g) {
    if (g.needs(0)) g.add_output_grad(0, dy);
  });
  return y;
}

Tensor transpose(const Tensor& x) {
  engine::check_float(x, "transpose", "x");
  LONGMIX_CHECK(x.ndim() >= 2, "transpose: needs at least 2 dims, got " << x.shape());
  const int64_t R = x.dim(-2), C = x.dim(-1), batch = x.numel() / std::max<int64_t>(R * C, 1);
  engine::Shape shape = x.shape();
  shape[-2] = C;
  shape[-1] = R;
  // src viewed as (batch, rows, cols) -> dst (batch, cols, rows), overwriting or adding.
  auto run = [batch](const Tensor& src, Tensor dst, bool add, int64_t rows, int64_t cols) {
    engine::dispatch_float(src.dtype(), "transpose", [&](auto zero) {
      using T = decltype(zero);
      const T* s = src.data<T>();
      T* d = dst.data<T>();
      engine::parallel_for(batch * cols, 64, [&](int64_t i0, int64_t i1) {
        for (int64_t bi = i0; bi < i1; ++bi) {  // one destination row per iteration
          const int64_t b = bi / cols, c = bi % cols;
          const T* sb = s + b * rows * cols;
          T* drow = d + (b * cols + c) * rows;
          for (int64_t r = 0; r < rows; ++r) drow[r] = (add ? drow[r] : T(0)) + sb[r * cols + c];
        }
      });
    });
  };
  Tensor y = Tensor::empty(shape, x.dtype());
  run(x, y, false, R, C);
  engine::record("transpose", y, {x}, [run, R, C](const Tensor& dy, engine::Grads& g) {
    if (g.needs(0)) run(dy, g.at(0), true, C, R);
  });
  return y;
}

Tensor slice(const Tensor& x, int axis_in, int64_t start, int64_t length) {
  engine::check_float(x, "slice", "x");
  const int axis = x.shape().normalize_axis(axis_in);
  const int64_t len = x.dim(axis);
  LONGMIX_CHECK(start >= 0 && length >= 0 && start + length <= len,
                "slice: [" << start << ", " << start + length << ") is out of range for axis "
                           << axis << " of " << x.shape());
  engine::Shape shape = x.shape();
  shape[axis] = length;
  const int64_t outer = x.shape().prefix_numel(axis), inner = x.shape().suffix_numel(axis + 1);
  Tensor y;
  if (outer == 1) {  // one contiguous block (a slice of the leading axis): a view, no copy
    y = x.block_view(start * inner, shape);
  } else {
    y = Tensor::empty(shape, x.dtype());
    engine::dispatch_float(x.dtype(), "slice", [&](auto zero) {
      using T = decltype(zero);
      copy_along_axis<T>(outer, inner, y.data<T>(), length, const_cast<T*>(x.data<T>()), len, start,
                         false, false);
    });
  }
  engine::record("slice", y, {x}, [=](const Tensor& dy, engine::Grads& g) {
    if (!g.needs(0)) return;
    Tensor dx = g.at(0);
    engine::dispatch_float(dy.dtype(), "slice", [&](auto zero) {
      using T = decltype(zero);
      copy_along_axis<T>(outer, inner, dy.data<T>(), length, dx.data<T>(), len, start, true, true);
    });
  });
  return y;
}

Tensor concat(const std::vector<Tensor>& parts, int axis_in) {
  LONGMIX_CHECK(!parts.empty(), "concat: no tensors given");
  for (const Tensor& p : parts) engine::check_float(p, "concat", "part");
  const Tensor& first = parts[0];
  const int axis = first.shape().normalize_axis(axis_in);
  engine::Shape shape = first.shape();
  int64_t total = 0;
  for (const Tensor& p : parts) {
    bool same = p.ndim() == first.ndim() && p.dtype() == first.dtype();
    for (int i = 0; same && i < p.ndim(); ++i) same = i == axis || p.dim(i) == first.dim(i);
    LONGMIX_CHECK(same, "concat: part " << p.shape() << " " << engine::dtype_name(p.dtype())
                                        << " does not match " << first.shape() << " "
                                        << engine::dtype_name(first.dtype()) << " off axis " << axis);
    total += p.dim(axis);
  }
  shape[axis] = total;
  const int64_t outer = shape.prefix_numel(axis), inner = shape.suffix_numel(axis + 1);
  Tensor y = Tensor::empty(shape, first.dtype());
  int64_t offset = 0;
  for (const Tensor& p : parts) {
    engine::dispatch_float(p.dtype(), "concat", [&](auto zero) {
      using T = decltype(zero);
      copy_along_axis<T>(outer, inner, p.data<T>(), p.dim(axis), y.data<T>(), total, offset, true,
                         false);
    });
    offset += p.dim(axis);
  }
  std::vector<int64_t> lengths;
  for (const Tensor& p : parts) lengths.push_back(p.dim(axis));
  engine::record("concat", y, parts, [=](const Tensor& dy, engine::Grads& g) {
    int64_t off = 0;
    for (size_t i = 0; i < lengths.size(); ++i) {
      if (g.needs(static_cast<int>(i))) {
        Tensor dp = g.at(static_cast<int>(i));
        engine::dispatch_float(dy.dtype(), "concat", [&](auto zero) {
          using T = decltype(zero);
          copy_along_axis<T>(outer, inner, dp.data<T>(), lengths[i], const_cast<T*>(dy.data<T>()),
                             total, off, false, true);
        });
      }
      off += lengths[i];
    }
  });
  return y;
}

}  // namespace ops
