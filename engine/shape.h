// Shape: up to 4 dimensions, row-major. A small value type: copy it freely.
#pragma once
#include <array>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>

namespace engine {

class Shape {
 public:
  static constexpr int kMaxDims = 4;

  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  template <class It>
  Shape(It begin, It end) {
    for (It it = begin; it != end; ++it) push_back(*it);
  }

  int ndim() const { return ndim_; }
  int64_t operator[](int axis) const { return dims_[normalize_axis(axis)]; }
  int64_t& operator[](int axis) { return dims_[normalize_axis(axis)]; }
  int64_t numel() const;
  // Axis in [-ndim, ndim) -> [0, ndim); throws on out of range.
  int normalize_axis(int axis) const;
  void push_back(int64_t dim);
  // Product of the dimensions before `axis` (rows) and from `axis` on (row length).
  int64_t prefix_numel(int axis) const;
  int64_t suffix_numel(int axis) const;

  const int64_t* begin() const { return dims_.data(); }
  const int64_t* end() const { return dims_.data() + ndim_; }
  bool operator==(const Shape& other) const;
  bool operator!=(const Shape& other) const { return !(*this == other); }

 private:
  std::array<int64_t, kMaxDims> dims_{};
  int ndim_ = 0;
};

std::string shape_str(const Shape& shape);  // "(2,16,5)"
std::ostream& operator<<(std::ostream& os, const Shape& shape);

}  // namespace engine
