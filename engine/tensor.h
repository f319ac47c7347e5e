// Tensor: a handle to a row-major, contiguous array of up to 4 dimensions whose storage is
// shared, 64-byte aligned and drawn from the caching allocator. Copying a Tensor copies the
// handle; reshape_view shares the storage. Autograd state (requires_grad, grad) lives on the
// handle's impl, so every copy of a handle sees the same gradient.
#pragma once
#include <memory>
#include <vector>

#include "engine/check.h"
#include "engine/dtype.h"
#include "engine/shape.h"

namespace engine {

class Rng;

struct Storage {
  Storage(size_t bytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data;
  size_t bytes;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  size_t offset = 0;  // bytes into storage: a view of a contiguous block of another tensor
  Shape shape;
  DType dtype = DType::f32;
  bool requires_grad = false;
  bool produced_by_op = false;  // true for tape outputs: their grad is freed after use
  std::shared_ptr<TensorImpl> grad;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // Factories. empty() leaves the contents uninitialized.
  static Tensor empty(const Shape& shape, DType dtype = DType::f32);
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32);
  static Tensor from_data(const Shape& shape, const std::vector<float>& values);
  static Tensor from_data(const Shape& shape, const std::vector<double>& values);
  static Tensor from_data(const Shape& shape, const std::vector<int32_t>& values);
  static Tensor randn(const Shape& shape, Rng& rng, DType dtype = DType::f32, double stddev = 1.0);
  static Tensor uniform(const Shape& shape, Rng& rng, double low, double high,
                        DType dtype = DType::f32);

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  int ndim() const { return shape().ndim(); }
  int64_t dim(int axis) const { return shape()[axis]; }
  int64_t numel() const { return shape().numel(); }
  DType dtype() const { return impl().dtype; }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype()); }

  // Typed access; throws if T does not match the dtype.
  template <class T>
  T* data() {
    check_dtype(dtype_of<T>());
    return static_cast<T*>(raw_data());
  }
  template <class T>
  const T* data() const {
    check_dtype(dtype_of<T>());
    return static_cast<const T*>(raw_data());
  }
  void* raw_data() { return static_cast<char*>(impl().storage->data) + impl().offset; }
  const void* raw_data() const { return static_cast<const char*>(impl().storage->data) + impl().offset; }

  double item() const;                 // the single element of a 1-element tensor
  double at_flat(int64_t index) const;  // element by flat index, as double
  std::vector<double> to_vector() const;

  // A tensor with a new shape over the same storage (no copy, no tape record).
  Tensor reshape_view(const Shape& shape) const;
  // Elements [first, first + shape.numel()) of this tensor as a tensor of `shape` (no copy).
  Tensor block_view(int64_t first, const Shape& shape) const;
  Tensor clone() const;           // deep copy, detached from autograd
  Tensor to(DType dtype) const;   // converted copy, detached from autograd
  Tensor detach() const;          // same storage, no autograd state

  // Autograd.
  bool requires_grad() const { return defined() && impl().requires_grad; }
  Tensor& set_requires_grad(bool on = true);
  Tensor grad() const;            // undefined when no gradient has been accumulated
  void zero_grad();               // drops the accumulated gradient
  // Replaces dtype and storage in place, so every handle (a module's, an optimizer's) sees it.
  void convert_in_place(DType dtype);
  // Copies `src` (same shape and dtype) into this tensor's storage.
  void copy_from(const Tensor& src);

  bool same(const Tensor& other) const { return impl_ == other.impl_; }
  TensorImpl& impl() const;
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  void check_dtype(DType expected) const;
  std::shared_ptr<TensorImpl> impl_;
};

// A float tensor is f32 or f64; ops call this before dispatching on the scalar type.
void check_float(const Tensor& t, const char* op, const char* arg);

// Calls f(T{}) with T = float or double according to `dtype`.
template <class F>
decltype(auto) dispatch_float(DType dtype, const char* op, F&& f) {
  LONGMIX_CHECK(dtype != DType::i32, op << ": expected a float32 or float64 tensor, got int32");
  if (dtype == DType::f32) return f(float{});
  return f(double{});
}

}  // namespace engine
