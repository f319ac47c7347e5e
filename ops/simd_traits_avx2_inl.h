// The AVX2 float traits `V` that ops/simd_math_inl.h is written over. Included only by
// *_avx2.cpp kernel files, inside their anonymous namespace.
struct V {
  using reg = __m256;
  static reg set1(float a) { return _mm256_set1_ps(a); }
  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm256_sub_ps(a, b); }
  static reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
  static reg div(reg a, reg b) { return _mm256_div_ps(a, b); }
  static reg min(reg a, reg b) { return _mm256_min_ps(a, b); }
  static reg max(reg a, reg b) { return _mm256_max_ps(a, b); }
  static reg abs(reg a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.f), a); }
  // a < 0 ? if_negative : otherwise (by a's sign bit: -0 takes if_negative, equal there)
  static reg select_negative(reg a, reg if_negative, reg otherwise) {
    return _mm256_blendv_ps(otherwise, if_negative, a);
  }
  static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static reg floor(reg a) { return _mm256_floor_ps(a); }
  static reg exp2i(reg n) {
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_castsi256_ps(e);
  }
};
