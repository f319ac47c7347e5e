#include "engine/tensor.h"

#include <cstring>

#include "engine/allocator.h"
#include "engine/parallel.h"
#include "engine/rng.h"

namespace engine {

Storage::Storage(size_t n) : data(cached_alloc(n)), bytes(n) {}
Storage::~Storage() { cached_free(data, bytes); }

namespace {
std::shared_ptr<TensorImpl> make_impl(const Shape& shape, DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->dtype = dtype;
  impl->storage = std::make_shared<Storage>(static_cast<size_t>(shape.numel()) * dtype_size(dtype));
  return impl;
}

template <class T>
Tensor from_vector(const Shape& shape, const std::vector<T>& values) {
  LONGMIX_CHECK(static_cast<int64_t>(values.size()) == shape.numel(),
                "Tensor::from_data: " << values.size() << " values for shape " << shape);
  Tensor t = Tensor::empty(shape, dtype_of<T>());
  std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(T));
  return t;
}
}  // namespace

Tensor Tensor::empty(const Shape& shape, DType dtype) { return Tensor(make_impl(shape, dtype)); }

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  // Gradient buffers reach hundreds of MB at long N: clear them on every thread.
  char* p = static_cast<char*>(t.raw_data());
  parallel_for(static_cast<int64_t>(t.nbytes()), int64_t{1} << 20, [p](int64_t b0, int64_t b1) {
    std::memset(p + b0, 0, static_cast<size_t>(b1 - b0));
  });
  return t;
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype) {
  Tensor t = empty(shape, dtype);
  const int64_t n = t.numel();
  if (dtype == DType::f32) {
    float* p = t.data<float>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(value);
  } else if (dtype == DType::f64) {
    double* p = t.data<double>();
    for (int64_t i = 0; i < n; ++i) p[i] = value;
  } else {
    int32_t* p = t.data<int32_t>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<int32_t>(value);
  }
  return t;
}

Tensor Tensor::from_data(const Shape& s, const std::vector<float>& v) { return from_vector(s, v); }
Tensor Tensor::from_data(const Shape& s, const std::vector<double>& v) { return from_vector(s, v); }
Tensor Tensor::from_data(const Shape& s, const std::vector<int32_t>& v) { return from_vector(s, v); }

Tensor Tensor::randn(const Shape& shape, Rng& rng, DType dtype, double stddev) {
  Tensor t = empty(shape, dtype);
  dispatch_float(dtype, "Tensor::randn", [&](auto zero) {
    using T = decltype(zero);
    T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(rng.normal() * stddev);
  });
  return t;
}

Tensor Tensor::uniform(const Shape& shape, Rng& rng, double low, double high, DType dtype) {
  Tensor t = empty(shape, dtype);
  dispatch_float(dtype, "Tensor::uniform", [&](auto zero) {
    using T = decltype(zero);
    T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(rng.uniform(low, high));
  });
  return t;
}

TensorImpl& Tensor::impl() const {
  LONGMIX_CHECK(impl_ != nullptr, "use of an undefined (default-constructed) Tensor");
  return *impl_;
}

void Tensor::check_dtype(DType expected) const {
  LONGMIX_CHECK(dtype() == expected, "Tensor of dtype " << dtype_name(dtype()) << " read as "
                                                        << dtype_name(expected));
}

void check_float(const Tensor& t, const char* op, const char* arg) {
  LONGMIX_CHECK(t.defined(), op << ": " << arg << " is an undefined tensor");
  LONGMIX_CHECK(t.dtype() != DType::i32,
                op << ": " << arg << " " << t.shape() << " must be float32 or float64, not int32");
}

double Tensor::at_flat(int64_t i) const {
  LONGMIX_CHECK(i >= 0 && i < numel(), "Tensor::at_flat: index " << i << " out of range for "
                                                                  << shape());
  switch (dtype()) {
    case DType::f32: return data<float>()[i];
    case DType::f64: return data<double>()[i];
    case DType::i32: return data<int32_t>()[i];
  }
  return 0;
}

double Tensor::item() const {
  LONGMIX_CHECK(numel() == 1, "Tensor::item: tensor of shape " << shape() << " has " << numel()
                                                               << " elements, not 1");
  return at_flat(0);
}

std::vector<double> Tensor::to_vector() const {
  std::vector<double> v(static_cast<size_t>(numel()));
  for (int64_t i = 0; i < numel(); ++i) v[static_cast<size_t>(i)] = at_flat(i);
  return v;
}

Tensor Tensor::reshape_view(const Shape& new_shape) const {
  LONGMIX_CHECK(new_shape.numel() == numel(),
                "reshape: cannot view " << shape() << " as " << new_shape);
  return block_view(0, new_shape);
}

Tensor Tensor::block_view(int64_t first, const Shape& new_shape) const {
  LONGMIX_CHECK(first >= 0 && first + new_shape.numel() <= numel(),
                "block_view: elements [" << first << ", " << first + new_shape.numel()
                                         << ") are outside a tensor of shape " << shape());
  auto v = std::make_shared<TensorImpl>();
  v->storage = impl().storage;
  v->offset = impl().offset + static_cast<size_t>(first) * dtype_size(dtype());
  v->shape = new_shape;
  v->dtype = dtype();
  return Tensor(v);
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape(), dtype());
  // Large copies in 256 KB pieces over the threads: one core's memcpy does not reach the
  // memory bandwidth (backward's copy of a 4 MB output gradient was a sixth of the product
  // workload's time at N = 1024).
  const int64_t bytes = static_cast<int64_t>(nbytes());
  auto* dst = static_cast<char*>(t.raw_data());
  const auto* src = static_cast<const char*>(raw_data());
  parallel_for(bytes, int64_t{256} << 10,
               [&](int64_t b0, int64_t b1) { std::memcpy(dst + b0, src + b0, static_cast<size_t>(b1 - b0)); });
  return t;
}

Tensor Tensor::detach() const { return reshape_view(shape()); }

Tensor Tensor::to(DType target) const {
  if (target == dtype()) return clone();
  Tensor t = empty(shape(), target);
  const int64_t n = numel();
  for (int64_t i = 0; i < n; ++i) {
    const double x = at_flat(i);
    switch (target) {
      case DType::f32: t.data<float>()[i] = static_cast<float>(x); break;
      case DType::f64: t.data<double>()[i] = x; break;
      case DType::i32: t.data<int32_t>()[i] = static_cast<int32_t>(x); break;
    }
  }
  return t;
}

Tensor& Tensor::set_requires_grad(bool on) {
  LONGMIX_CHECK(!on || dtype() != DType::i32,
                "requires_grad: an int32 tensor " << shape() << " cannot have a gradient");
  impl().requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const { return Tensor(impl().grad); }

void Tensor::zero_grad() { impl().grad.reset(); }

void Tensor::convert_in_place(DType target) {
  if (target == dtype()) return;
  Tensor converted = to(target);
  impl().storage = converted.impl().storage;
  impl().offset = 0;
  impl().dtype = target;
  impl().grad.reset();
}

void Tensor::copy_from(const Tensor& src) {
  LONGMIX_CHECK(src.shape() == shape() && src.dtype() == dtype(),
                "copy_from: source " << src.shape() << " " << dtype_name(src.dtype())
                                     << " vs destination " << shape() << " "
                                     << dtype_name(dtype()));
  std::memcpy(raw_data(), src.raw_data(), nbytes());
}

}  // namespace engine
