#include "engine/shape.h"

#include "engine/check.h"

namespace engine {

Shape::Shape(std::initializer_list<int64_t> dims) {
  for (int64_t d : dims) push_back(d);
}

void Shape::push_back(int64_t dim) {
  LONGMIX_CHECK(ndim_ < kMaxDims, "Shape: at most " << kMaxDims << " dimensions are supported");
  LONGMIX_CHECK(dim >= 0, "Shape: negative dimension " << dim);
  dims_[ndim_++] = dim;
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < ndim_; ++i) n *= dims_[i];
  return n;
}

int Shape::normalize_axis(int axis) const {
  const int a = axis < 0 ? axis + ndim_ : axis;
  LONGMIX_CHECK(a >= 0 && a < ndim_, "axis " << axis << " is out of range for shape " << *this);
  return a;
}

int64_t Shape::prefix_numel(int axis) const {
  int64_t n = 1;
  for (int i = 0; i < axis; ++i) n *= dims_[i];
  return n;
}

int64_t Shape::suffix_numel(int axis) const {
  int64_t n = 1;
  for (int i = axis; i < ndim_; ++i) n *= dims_[i];
  return n;
}

bool Shape::operator==(const Shape& other) const {
  if (ndim_ != other.ndim_) return false;
  for (int i = 0; i < ndim_; ++i)
    if (dims_[i] != other.dims_[i]) return false;
  return true;
}

std::string shape_str(const Shape& shape) {
  std::string s = "(";
  for (int i = 0; i < shape.ndim(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + ")";
}

std::ostream& operator<<(std::ostream& os, const Shape& shape) { return os << shape_str(shape); }

}  // namespace engine
