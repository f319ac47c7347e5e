// The only file that includes oneDNN. One matmul primitive per GEMM shape, created on first
// use and kept, together with its memory objects, so a training step creates none.
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <cstring>
#include <map>
#include <tuple>
#include <unordered_map>

#include "engine/check.h"
#include "ops/gemm.h"

namespace ops {
namespace {

using dnnl::memory;
// (batch, M, N, K, trans_a, trans_b, lda, ldb, ldc, accumulate, bias, threads): oneDNN fixes a
// primitive's thread count when it is created, so one made for 1 thread is never reused for 2.
using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, bool, bool, int64_t, int64_t, int64_t,
                       bool, bool, int>;

struct Cached {
  dnnl::matmul primitive;
  memory a, b, c, bias;
  std::unordered_map<int, memory> args;
};

dnnl::engine& cpu_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

Cached make(const GemmShape& s, bool accumulate, bool has_bias) {
  const memory::dims a_dims{s.batch, s.M, s.K}, b_dims{s.batch, s.K, s.N}, c_dims{s.batch, s.M, s.N};
  // Explicit row-major strides; a transposed operand is the same buffer read with swapped ones.
  const int64_t lda = s.stride_a(), ldb = s.stride_b(), ldc = s.stride_c();
  const memory::dims a_strides = s.trans_a ? memory::dims{s.K * lda, 1, lda}
                                           : memory::dims{s.M * lda, lda, 1};
  const memory::dims b_strides = s.trans_b ? memory::dims{s.N * ldb, 1, ldb}
                                           : memory::dims{s.K * ldb, ldb, 1};
  const auto f32 = memory::data_type::f32;
  const memory::desc a_md(a_dims, f32, a_strides), b_md(b_dims, f32, b_strides),
      c_md(c_dims, f32, memory::dims{s.M * ldc, ldc, 1});
  const memory::desc bias_md =
      has_bias ? memory::desc({1, 1, s.N}, f32, memory::dims{s.N, s.N, 1}) : memory::desc();
  dnnl::primitive_attr attr;
  if (accumulate) {
    dnnl::post_ops po;
    po.append_sum(1.f);
    attr.set_post_ops(po);
  }
  const dnnl::matmul::desc desc(a_md, b_md, bias_md, c_md);
  const dnnl::matmul::primitive_desc pd(desc, attr, cpu_engine());
  Cached c;
  c.primitive = dnnl::matmul(pd);
  c.a = memory(a_md, cpu_engine(), nullptr);
  c.b = memory(b_md, cpu_engine(), nullptr);
  c.c = memory(c_md, cpu_engine(), nullptr);
  c.args = {{DNNL_ARG_SRC, c.a}, {DNNL_ARG_WEIGHTS, c.b}, {DNNL_ARG_DST, c.c}};
  if (has_bias) {
    c.bias = memory(bias_md, cpu_engine(), nullptr);
    c.args[DNNL_ARG_BIAS] = c.bias;
  }
  return c;
}

}  // namespace

void onednn_sgemm(const GemmShape& s, const float* A, const float* B, float* C, bool accumulate,
                  const float* bias) {
  LONGMIX_CHECK(s.batch >= 0 && s.M >= 0 && s.N >= 0 && s.K >= 0,
                "gemm: negative dimension in batch " << s.batch << " M " << s.M << " N " << s.N
                                                     << " K " << s.K);
  if (s.batch == 0 || s.M == 0 || s.N == 0) return;
  if (s.K == 0) {  // oneDNN rejects empty reductions; the product is zero
    gemm_plain<float>(s, A, B, C, accumulate, bias);
    return;
  }
  // Thread-local: a cached entry's memory objects get new data handles on every call.
  thread_local std::map<Key, Cached> cache;
  const Key key{s.batch, s.M, s.N, s.K, s.trans_a, s.trans_b, s.stride_a(), s.stride_b(),
                s.stride_c(), accumulate, bias != nullptr, omp_get_max_threads()};
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, make(s, accumulate, bias != nullptr)).first;
  Cached& c = it->second;
  c.a.set_data_handle(const_cast<float*>(A));
  c.b.set_data_handle(const_cast<float*>(B));
  c.c.set_data_handle(C);
  if (bias) c.bias.set_data_handle(const_cast<float*>(bias));
  thread_local dnnl::stream stream(cpu_engine());
  c.primitive.execute(stream, c.args);
  stream.wait();
}

}  // namespace ops
