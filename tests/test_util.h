// Shared helpers for the tests: seeded random tensors and closeness checks.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <sstream>
#include <string>

#include "engine/check.h"
#include "engine/gradcheck.h"
#include "engine/rng.h"
#include "engine/tensor.h"

namespace testing_util {

using engine::DType;
using engine::Tensor;

inline Tensor randn(const engine::Shape& shape, engine::Rng& rng, DType dtype = DType::f64,
                    bool requires_grad = true) {
  Tensor t = Tensor::randn(shape, rng, dtype);
  if (requires_grad) t.set_requires_grad();
  return t;
}

// Max |a - b| <= atol + rtol * |b| elementwise; the message names the worst element.
inline ::testing::AssertionResult all_close(const Tensor& a, const Tensor& b, double atol,
                                            double rtol) {
  if (a.shape() != b.shape())
    return ::testing::AssertionFailure()
           << "shapes differ: " << a.shape() << " vs " << b.shape();
  double worst = 0;
  int64_t at = -1;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double x = a.at_flat(i), y = b.at_flat(i);
    const double excess = std::fabs(x - y) - (atol + rtol * std::fabs(y));
    if (!(excess <= 0) && (at < 0 || excess > worst || std::isnan(excess))) {
      worst = excess;
      at = i;
    }
  }
  if (at < 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "element " << engine::index_str(a.shape(), at) << ": " << a.at_flat(at) << " vs "
         << b.at_flat(at) << " (atol " << atol << ", rtol " << rtol << ")";
}

// The message of the engine::Error that f throws, or "no error".
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const engine::Error& e) {
    return e.what();
  }
  return "no error";
}

// Bitwise equality of two tensors' contents.
inline bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

}  // namespace testing_util

#define EXPECT_GRADCHECK(fn, ...)                                         \
  do {                                                                    \
    const engine::GradcheckResult gc_result_ = engine::gradcheck(fn, __VA_ARGS__); \
    EXPECT_TRUE(gc_result_.ok) << gc_result_.report;                      \
  } while (0)
