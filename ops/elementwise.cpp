#include "ops/elementwise.h"

#include "engine/parallel.h"
#include "engine/tape.h"
#include "ops/binary_kernels.h"
#include "ops/column_sum.h"

namespace ops {
namespace {

using engine::Grads;

constexpr int64_t kGrain = 1 << 14;  // elements per parallel chunk

const char* op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::add: return "add";
    case BinaryOp::sub: return "sub";
    case BinaryOp::mul: return "mul";
    case BinaryOp::div: return "div";
  }
  return "?";
}

template <class T>
inline T apply(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::add: return a + b;
    case BinaryOp::sub: return a - b;
    case BinaryOp::mul: return a * b;
    case BinaryOp::div: return a / b;
  }
  return 0;
}

// Whether b's shape is a trailing suffix of a's shape.
bool is_trailing(const engine::Shape& a, const engine::Shape& b) {
  if (b.ndim() > a.ndim()) return false;
  for (int i = 1; i <= b.ndim(); ++i)
    if (a[a.ndim() - i] != b[b.ndim() - i]) return false;
  return true;
}

// (rows, cols): b is read as b[j % cols]; cols == 1 for a scalar b.
struct Broadcast {
  int64_t rows, cols;
};

Broadcast broadcast_or_throw(BinaryOp op, const Tensor& a, const Tensor& b) {
  engine::check_float(a, op_name(op), "a");
  engine::check_float(b, op_name(op), "b");
  LONGMIX_CHECK(a.dtype() == b.dtype(), op_name(op) << ": dtypes differ, a " << a.shape() << " "
                                                    << engine::dtype_name(a.dtype()) << " vs b "
                                                    << b.shape() << " "
                                                    << engine::dtype_name(b.dtype()));
  LONGMIX_CHECK(b.numel() == 1 || is_trailing(a.shape(), b.shape()),
                op_name(op) << ": cannot broadcast b " << b.shape() << " to a " << a.shape()
                            << " (b must match a, be a scalar, or match a's trailing dims)");
  const int64_t cols = b.numel();
  return {cols == 0 ? 0 : a.numel() / cols, cols};
}

template <class T>
void forward(BinaryOp op, Broadcast bc, const T* a, const T* b, T* out) {
  const int64_t n = bc.rows * bc.cols;
  if constexpr (std::is_same_v<T, float>) {
    const BinaryKernels& k = binary_kernels();
    if (bc.cols == 1) {
      engine::parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) {
        k.vector_scalar(op, i1 - i0, a + i0, b[0], out + i0);
      });
    } else if (bc.rows == 1) {
      engine::parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) {
        k.vector_vector(op, i1 - i0, a + i0, b + i0, out + i0);
      });
    } else {
      const int64_t row_grain = std::max<int64_t>(1, kGrain / bc.cols);
      engine::parallel_for(bc.rows, row_grain, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r)
          k.vector_vector(op, bc.cols, a + r * bc.cols, b, out + r * bc.cols);
      });
    }
  } else {
    engine::parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) out[i] = apply(op, a[i], b[i % bc.cols]);
    });
  }
}

// d(a op b)/da and d(a op b)/db, as the factor that multiplies dout.
template <class T>
inline T grad_a(BinaryOp op, T, T b) {
  return op == BinaryOp::mul ? b : op == BinaryOp::div ? T(1) / b : T(1);
}
template <class T>
inline T grad_b(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::add: return T(1);
    case BinaryOp::sub: return T(-1);
    case BinaryOp::mul: return a;
    case BinaryOp::div: return -a / (b * b);
  }
  return 0;
}

// Gradients, walking (rows, cols) so that b's element is the column. For a broadcast b, the
// per-element contributions are summed over rows in a fixed order.
template <class T>
void backward(BinaryOp op, Broadcast bc, const T* dout, const T* a, const T* b, Grads& g,
              Tensor& ga_t, Tensor& gb_t) {
  const int64_t cols = bc.cols, n = bc.rows * bc.cols;
  const bool scalar_b = cols == 1;
  if (g.needs(0)) {
    T* ga = ga_t.data<T>();
    engine::parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) {
      if (scalar_b) {
        for (int64_t i = i0; i < i1; ++i) ga[i] += dout[i] * grad_a(op, a[i], b[0]);
        return;
      }
      for (int64_t i = i0; i < i1;) {  // runs of one row each
        const int64_t j0 = i % cols, run = std::min(cols - j0, i1 - i);
        for (int64_t j = 0; j < run; ++j) ga[i + j] += dout[i + j] * grad_a(op, a[i + j], b[j0 + j]);
        i += run;
      }
    });
  }
  if (g.needs(1)) {
    T* gb = gb_t.data<T>();
    if (bc.rows == 1) {
      engine::parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) gb[i] += dout[i] * grad_b(op, a[i], b[i]);
      });
    } else if (scalar_b) {
      // Fixed chunks, each summed serially, the partial sums added in chunk order.
      accumulate_row_contributions<T>(engine::num_chunks(n, kGrain), 1, gb, [&](int64_t c, T* acc) {
        const int64_t i1 = std::min(n, (c + 1) * kGrain);
        for (int64_t i = c * kGrain; i < i1; ++i) acc[0] += dout[i] * grad_b(op, a[i], b[0]);
      });
    } else {
      accumulate_row_contributions<T>(bc.rows, cols, gb, [&](int64_t r, T* acc) {
        const int64_t base = r * cols;
        for (int64_t j = 0; j < cols; ++j) acc[j] += dout[base + j] * grad_b(op, a[base + j], b[j]);
      });
    }
  }
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  const Broadcast bc = broadcast_or_throw(op, a, b);
  Tensor out = Tensor::empty(a.shape(), a.dtype());
  engine::dispatch_float(a.dtype(), op_name(op), [&](auto zero) {
    using T = decltype(zero);
    forward<T>(op, bc, a.data<T>(), b.data<T>(), out.data<T>());
  });
  engine::record(op_name(op), out, {a, b}, [op, bc, a, b](const Tensor& dout, Grads& g) {
    if (op == BinaryOp::add && bc.rows == 1 && a.dtype() == dout.dtype()) {
      // A residual add passes dout through to both inputs: b's gradient adds it first, then a's
      // takes dout's buffer itself when it has none yet (no zeroing, no second pass).
      if (g.needs(1)) g.add_grad(1, dout);
      if (g.needs(0)) g.add_output_grad(0, dout);
      return;
    }
    Tensor ga = g.needs(0) ? g.at(0) : Tensor();
    Tensor gb = g.needs(1) ? g.at(1) : Tensor();
    engine::dispatch_float(dout.dtype(), op_name(op), [&](auto zero) {
      using T = decltype(zero);
      backward<T>(op, bc, dout.data<T>(), a.data<T>(), b.data<T>(), g, ga, gb);
    });
  });
  return out;
}

Tensor scalar_tensor(double s, engine::DType dtype) { return Tensor::full({1}, s, dtype); }

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return binary(BinaryOp::add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary(BinaryOp::sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(BinaryOp::mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary(BinaryOp::div, a, b); }

Tensor add(const Tensor& a, double s) {
  engine::check_float(a, "add", "a");
  return binary(BinaryOp::add, a, scalar_tensor(s, a.dtype()));
}
Tensor mul(const Tensor& a, double s) {
  engine::check_float(a, "mul", "a");
  return binary(BinaryOp::mul, a, scalar_tensor(s, a.dtype()));
}

}  // namespace ops
