// The only file that includes oneDNN. One matmul primitive per GEMM shape, created on first
// use and kept, together with its memory objects, so a training step creates none.
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <algorithm>
#include <map>
#include <tuple>
#include <unordered_map>

#include "engine/check.h"
#include "engine/flop_counter.h"
#include "engine/tensor.h"
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

void execute_cached(const GemmShape& s, const float* A, const float* B, float* C, bool accumulate,
                    const float* bias) {
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

// oneDNN chooses how to split a GEMM over threads from the thread count, and some splits cut
// the reduction (K), which changes the rounding: a K = 2048 weight gradient already differs
// bitwise between 1 and 2 threads. So every call is cut into tiles fixed by the shape alone,
// blocks of output rows x blocks of output columns x chunks of K; each tile is a
// single-threaded oneDNN GEMM run by our own parallel loop, and the K-chunk partials are
// added in chunk order.
constexpr int64_t kMinRowBlock = 256;
constexpr int64_t kColBlock = 2048;

// K per chunk: at least 512, longer when the output tile is small, so a tile carries enough
// work (~4 MFLOP) to pay for its call. A function of the shape only.
int64_t reduction_chunk(const GemmShape& s) {
  const int64_t tile_outputs = std::min(s.M, kMinRowBlock) * std::min(s.N, kColBlock);
  const int64_t chunk = (int64_t{1} << 21) / std::max<int64_t>(tile_outputs, 1);
  return std::clamp<int64_t>((chunk + 511) / 512 * 512, 512, int64_t{1} << 16);
}

// Rows per tile: at least 256, more for narrow, shallow products (N = 11, K = 32) so a tile
// still carries about 1 MFLOP. A function of the shape only.
int64_t row_block(const GemmShape& s, int64_t kchunk) {
  const int64_t per_row = std::min(s.N, kColBlock) * std::min(s.K, kchunk);
  const int64_t rows = (int64_t{1} << 19) / std::max<int64_t>(per_row, 1);
  return std::clamp<int64_t>((rows + 63) / 64 * 64, kMinRowBlock, 8192);
}

struct Tile {
  int64_t batch, row0, rows, col0, cols, chunk, k0, depth;
};

// The GEMM of one tile, written to `out` (row stride ldc) with the given accumulate / bias.
void run_tile(const GemmShape& s, const Tile& t, const float* A, const float* B, float* out, int64_t ldc,
              bool accumulate, const float* bias) {
  GemmShape part{1, t.rows, t.cols, t.depth, s.trans_a, s.trans_b};
  part.lda = s.stride_a();
  part.ldb = s.stride_b();
  part.ldc = ldc;
  const float* a = A + t.batch * (s.trans_a ? s.K : s.M) * s.stride_a() +
                   (s.trans_a ? t.k0 * s.stride_a() + t.row0 : t.row0 * s.stride_a() + t.k0);
  const float* b = B + t.batch * (s.trans_b ? s.N : s.K) * s.stride_b() +
                   (s.trans_b ? t.col0 * s.stride_b() + t.k0 : t.k0 * s.stride_b() + t.col0);
  execute_cached(part, a, b, out, accumulate, bias ? bias + t.col0 : nullptr);
}

void sgemm_fixed_tiles(const GemmShape& s, const float* A, const float* B, float* C, bool accumulate,
                       const float* bias) {
  const int64_t kchunk = reduction_chunk(s), kRowBlock = row_block(s, kchunk);
  const int64_t rblocks = (s.M + kRowBlock - 1) / kRowBlock, cblocks = (s.N + kColBlock - 1) / kColBlock;
  const int64_t chunks = (s.K + kchunk - 1) / kchunk;
  const int64_t ldc = s.stride_c(), tiles = s.batch * rblocks * cblocks * chunks;
  auto tile = [&](int64_t index) {
    const int64_t c = index % chunks, cb = index / chunks % cblocks, rb = index / chunks / cblocks % rblocks;
    const int64_t b = index / chunks / cblocks / rblocks;
    return Tile{b, rb * kRowBlock, std::min(kRowBlock, s.M - rb * kRowBlock), cb * kColBlock,
                std::min(kColBlock, s.N - cb * kColBlock), c, c * kchunk, std::min(kchunk, s.K - c * kchunk)};
  };
  if (chunks == 1) {  // no reduction to split: tiles write C directly
#pragma omp parallel for schedule(static)
    for (int64_t index = 0; index < tiles; ++index) {
      omp_set_num_threads(1);  // this worker's GEMM plans and runs for one thread
      const Tile t = tile(index);
      run_tile(s, t, A, B, C + (t.batch * s.M + t.row0) * ldc + t.col0, ldc, accumulate, bias);
    }
    return;
  }
  // Partials laid out (batch, chunk, M, N); then C = [C] + [bias] + sum over chunks, in order.
  engine::Tensor partial_t = engine::Tensor::empty({s.batch * chunks, s.M * s.N});
  float* partial = partial_t.data<float>();
#pragma omp parallel for schedule(static)
  for (int64_t index = 0; index < tiles; ++index) {
    omp_set_num_threads(1);
    const Tile t = tile(index);
    run_tile(s, t, A, B, partial + ((t.batch * chunks + t.chunk) * s.M + t.row0) * s.N + t.col0, s.N, false,
             nullptr);
  }
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < s.batch * s.M; ++r) {
    const int64_t b = r / s.M, i = r % s.M;
    float* c = C + r * ldc;
    for (int64_t j = 0; j < s.N; ++j) {
      float sum = bias ? bias[j] : 0.f;
      for (int64_t k = 0; k < chunks; ++k) sum += partial[((b * chunks + k) * s.M + i) * s.N + j];
      c[j] = (accumulate ? c[j] : 0.f) + sum;
    }
  }
}

}  // namespace

void onednn_sgemm(const GemmShape& s, const float* A, const float* B, float* C, bool accumulate,
                  const float* bias) {
  LONGMIX_CHECK(s.batch >= 0 && s.M >= 0 && s.N >= 0 && s.K >= 0,
                "gemm: negative dimension in batch " << s.batch << " M " << s.M << " N " << s.N
                                                     << " K " << s.K);
  if (s.batch == 0 || s.M == 0 || s.N == 0) return;
  // oneDNN rejects empty reductions (the product is zero), and runs K = 1 (an outer product:
  // a Linear head's input gradient) 4x slower than this plain loop.
  if (s.K <= 1) {
    gemm_plain<float>(s, A, B, C, accumulate, bias);
    return;
  }
  engine::count_flops(2.0 * double(s.batch) * double(s.M) * double(s.N) * double(s.K));
  sgemm_fixed_tiles(s, A, B, C, accumulate, bias);
}

}  // namespace ops
