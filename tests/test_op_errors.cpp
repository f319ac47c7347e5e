// Wrong shapes, dtypes and arguments throw engine::Error with a message that names the op
// and the shapes involved (never a crash).
#include <gtest/gtest.h>

#include "ops/activations.h"
#include "ops/dropout.h"
#include "ops/elementwise.h"
#include "ops/embedding.h"
#include "ops/layernorm.h"
#include "ops/loss.h"
#include "ops/matmul.h"
#include "ops/reduce.h"
#include "ops/shape_ops.h"
#include "ops/softmax.h"

using engine::DType;
using engine::Tensor;

namespace {

// Expects `body` to throw engine::Error whose message contains every one of `parts`.
template <class Body>
void expect_error(Body body, std::initializer_list<const char*> parts) {
  try {
    body();
    ADD_FAILURE() << "no error thrown";
  } catch (const engine::Error& e) {
    for (const char* p : parts)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos)
          << "message '" << e.what() << "' lacks '" << p << "'";
  }
}

TEST(OpErrors, MatmulInnerDimensions) {
  expect_error([] { ops::matmul(Tensor::zeros({2, 3}), Tensor::zeros({4, 5})); },
               {"matmul", "(2,3)", "(4,5)"});
  expect_error([] { ops::matmul(Tensor::zeros({2, 2, 3}), Tensor::zeros({3, 3, 5})); },
               {"matmul", "batch"});
}

TEST(OpErrors, BroadcastMismatch) {
  expect_error([] { ops::add(Tensor::zeros({2, 3}), Tensor::zeros({2})); }, {"add", "(2)", "(2,3)"});
  expect_error([] { ops::mul(Tensor::zeros({2, 3}), Tensor::zeros({3}, DType::f64)); },
               {"mul", "float32", "float64"});
}

TEST(OpErrors, LinearAndLayerNormShapes) {
  expect_error([] { ops::linear(Tensor::zeros({4, 5}), Tensor::zeros({3, 6}), Tensor()); },
               {"linear", "(4,5)", "(3,6)"});
  expect_error([] { ops::layer_norm(Tensor::zeros({4, 5}), Tensor::zeros({4}), Tensor::zeros({5})); },
               {"layer_norm", "(4,5)", "(4)"});
}

TEST(OpErrors, ShapeOps) {
  expect_error([] { ops::reshape(Tensor::zeros({4, 5}), {3, -1}); }, {"reshape", "(4,5)", "(3,-1)"});
  expect_error([] { ops::slice(Tensor::zeros({4, 5}), 1, 3, 3); }, {"slice", "(4,5)"});
  expect_error([] { ops::concat({Tensor::zeros({4, 5}), Tensor::zeros({3, 4})}, 0); },
               {"concat", "(3,4)", "(4,5)"});
  expect_error([] { ops::sum(Tensor::zeros({4, 5}), 2); }, {"axis 2", "(4,5)"});
  expect_error([] { ops::transpose(Tensor::zeros({4})); }, {"transpose", "(4)"});
}

TEST(OpErrors, IndicesOutOfRange) {
  expect_error([] { ops::embedding(Tensor::zeros({3, 2}), Tensor::from_data({2}, std::vector<int32_t>{0, 3})); },
               {"embedding", "id 3", "[0, 3)"});
  expect_error([] { ops::cross_entropy(Tensor::zeros({2, 4}), Tensor::from_data({2}, std::vector<int32_t>{1, -1})); },
               {"cross_entropy", "target -1"});
  expect_error([] { ops::cross_entropy(Tensor::zeros({2, 4}), Tensor::from_data({3}, std::vector<int32_t>{1, 1, 1})); },
               {"cross_entropy", "(2,4)", "(3)"});
}

TEST(OpErrors, BadArgumentsAndDtypes) {
  expect_error([] { ops::dropout(Tensor::zeros({3}), 1.0, 0, true); }, {"dropout", "[0, 1)"});
  expect_error([] { ops::exp(Tensor::zeros({3}, DType::i32)); }, {"exp", "int32"});
  expect_error([] { ops::mse(Tensor::zeros({3}), Tensor::zeros({4})); }, {"mse", "(3)", "(4)"});
  expect_error([] { ops::softmax(Tensor::zeros({0})); }, {"softmax", "(0)"});
}

}  // namespace
