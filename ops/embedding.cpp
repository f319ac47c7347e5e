#include "ops/embedding.h"

#include <cstring>

#include "engine/parallel.h"
#include "engine/tape.h"

namespace ops {

Tensor embedding(const Tensor& weight, const Tensor& ids) {
  engine::check_float(weight, "embedding", "weight");
  LONGMIX_CHECK(weight.ndim() == 2, "embedding: weight must be (vocab, dim), got " << weight.shape());
  LONGMIX_CHECK(ids.defined() && ids.dtype() == engine::DType::i32,
                "embedding: ids must be an int32 tensor");
  const int64_t V = weight.dim(0), D = weight.dim(1), T = ids.numel();
  const int32_t* id = ids.data<int32_t>();
  for (int64_t t = 0; t < T; ++t)
    LONGMIX_CHECK(id[t] >= 0 && id[t] < V, "embedding: id " << id[t] << " at position " << t
                                                            << " of ids " << ids.shape()
                                                            << " is outside the vocabulary [0, "
                                                            << V << ")");
  LONGMIX_CHECK(ids.ndim() < engine::Shape::kMaxDims,
                "embedding: ids " << ids.shape() << " has too many dims to append the width");
  engine::Shape shape = ids.shape();
  shape.push_back(D);
  Tensor out = Tensor::empty(shape, weight.dtype());
  const size_t row_bytes = static_cast<size_t>(D) * engine::dtype_size(weight.dtype());
  const char* w = static_cast<const char*>(weight.raw_data());
  char* o = static_cast<char*>(out.raw_data());
  engine::parallel_for(T, 256, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t)
      std::memcpy(o + t * row_bytes, w + id[t] * static_cast<int64_t>(row_bytes), row_bytes);
  });
  engine::record("embedding", out, {weight, ids}, [=](const Tensor& dout, engine::Grads& g) {
    if (!g.needs(0)) return;
    Tensor dw = g.at(0);
    const int32_t* idp = ids.data<int32_t>();
    // A scatter, made deterministic: each thread owns a range of vocabulary rows and adds the
    // tokens that hit them in token order.
    engine::dispatch_float(dout.dtype(), "embedding", [&](auto zero) {
      using S = decltype(zero);
      const S* dp = dout.data<S>();
      S* dwp = dw.data<S>();
      engine::parallel_for(V, std::max<int64_t>(64, V / 8), [&](int64_t v0, int64_t v1) {
        for (int64_t t = 0; t < T; ++t) {
          if (idp[t] < v0 || idp[t] >= v1) continue;
          S* row = dwp + idp[t] * D;
          for (int64_t j = 0; j < D; ++j) row[j] += dp[t * D + j];
        }
      });
    });
  });
  return out;
}

}  // namespace ops
