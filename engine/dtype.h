// Element types. f32 for training, f64 for gradient checks, i32 for token ids and class labels.
#pragma once
#include <cstddef>
#include <cstdint>

namespace engine {

enum class DType { f32, f64, i32 };

inline size_t dtype_size(DType t) { return t == DType::f64 ? 8 : 4; }
inline const char* dtype_name(DType t) {
  return t == DType::f32 ? "float32" : t == DType::f64 ? "float64" : "int32";
}

template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() { return DType::f32; }
template <>
constexpr DType dtype_of<double>() { return DType::f64; }
template <>
constexpr DType dtype_of<int32_t>() { return DType::i32; }

}  // namespace engine
