// Vector exp and erf for float32, written once over an ISA's traits `V` (set1, add, sub, mul,
// fmadd, min, max, div, abs, floor, select_negative, and exp2i: 2^n for integral-valued float
// n). Included only by the *_avx2.cpp / *_avx512.cpp kernel files, inside their anonymous
// namespace, so every instantiation is compiled for, and stays private to, one ISA.
//
// exp: Cephes' expf (range reduction by ln 2 in two parts, degree-6 polynomial), clamped to the
// float range. erf: a rational approximation odd/even in x on [-4, 4] (outside, erf = +-1 in
// float32), as used by Eigen and XLA for float.

template <class V>
inline typename V::reg vexp(typename V::reg x) {
  using R = typename V::reg;
  x = V::min(V::max(x, V::set1(-87.3365f)), V::set1(88.3762f));
  const R n = V::floor(V::fmadd(x, V::set1(1.44269504088896341f), V::set1(0.5f)));
  x = V::fmadd(n, V::set1(-0.693359375f), x);
  x = V::fmadd(n, V::set1(2.12194440e-4f), x);
  R p = V::set1(1.9875691500e-4f);
  p = V::fmadd(p, x, V::set1(1.3981999507e-3f));
  p = V::fmadd(p, x, V::set1(8.3334519073e-3f));
  p = V::fmadd(p, x, V::set1(4.1665795894e-2f));
  p = V::fmadd(p, x, V::set1(1.6666665459e-1f));
  p = V::fmadd(p, x, V::set1(5.0000001201e-1f));
  p = V::fmadd(p, V::mul(x, x), V::add(x, V::set1(1.f)));
  return V::mul(p, V::exp2i(n));
}

template <class V>
inline typename V::reg verf(typename V::reg a) {
  using R = typename V::reg;
  const R x = V::min(V::max(a, V::set1(-4.f)), V::set1(4.f));
  const R x2 = V::mul(x, x);
  R p = V::set1(-2.72614225801306e-10f);
  p = V::fmadd(x2, p, V::set1(2.77068142495902e-08f));
  p = V::fmadd(x2, p, V::set1(-2.10102402082508e-06f));
  p = V::fmadd(x2, p, V::set1(-5.69250639462346e-05f));
  p = V::fmadd(x2, p, V::set1(-7.34990630326855e-04f));
  p = V::fmadd(x2, p, V::set1(-2.95459980854025e-03f));
  p = V::fmadd(x2, p, V::set1(-1.60960333262415e-02f));
  p = V::mul(x, p);
  R q = V::set1(-1.45660718464996e-05f);
  q = V::fmadd(x2, q, V::set1(-2.13374055278905e-04f));
  q = V::fmadd(x2, q, V::set1(-1.68282697438203e-03f));
  q = V::fmadd(x2, q, V::set1(-7.37332916720468e-03f));
  q = V::fmadd(x2, q, V::set1(-1.42647390514189e-02f));
  return V::div(p, q);
}

template <class V>
inline typename V::reg vgelu(typename V::reg x) {
  const auto cdf = V::fmadd(verf<V>(V::mul(x, V::set1(0.70710678118654752440f))), V::set1(0.5f), V::set1(0.5f));
  return V::mul(x, cdf);
}

// Phi(x) and phi(x) from one exponential, for the derivative: 1 - Phi(|x|) = phi(x) P(k),
// k = 1 / (1 + p |x|), P of degree 5 (Abramowitz & Stegun 26.2.17, |error| < 7.5e-8, about
// float32's half-ulp at 0.5). The tail is computed directly, not as 1 - Phi: accurate far
// out on the negative side. The derivative needs phi's exponential anyway, so this saves the
// rational erf that vgelu uses (BM_GeluKernel, value and derivative: 31.0 -> 27.8 us AVX-512,
// 58.4 -> 51.6 us AVX2).
template <class V>
inline void vnormal_cdf_pdf(typename V::reg x, typename V::reg& cdf, typename V::reg& pdf) {
  using R = typename V::reg;
  const R z = V::abs(x);
  const R k = V::div(V::set1(1.f), V::fmadd(z, V::set1(0.2316419f), V::set1(1.f)));
  R p = V::set1(1.330274429f);
  p = V::fmadd(p, k, V::set1(-1.821255978f));
  p = V::fmadd(p, k, V::set1(1.781477937f));
  p = V::fmadd(p, k, V::set1(-0.356563782f));
  p = V::fmadd(p, k, V::set1(0.319381530f));
  p = V::mul(p, k);
  pdf = V::mul(V::set1(0.39894228040143267794f), vexp<V>(V::mul(V::set1(-0.5f), V::mul(x, x))));
  const R tail = V::mul(pdf, p);  // 1 - Phi(|x|)
  cdf = V::select_negative(x, tail, V::sub(V::set1(1.f), tail));
}

// Phi(x) + x phi(x)
template <class V>
inline typename V::reg vgelu_grad(typename V::reg x) {
  typename V::reg cdf, pdf;
  vnormal_cdf_pdf<V>(x, cdf, pdf);
  return V::fmadd(x, pdf, cdf);
}

// y = x Phi(x) and dy/dx = Phi(x) + x phi(x), sharing the exponential.
template <class V>
inline void vgelu_value_and_derivative(typename V::reg x, typename V::reg& y, typename V::reg& dydx) {
  typename V::reg cdf, pdf;
  vnormal_cdf_pdf<V>(x, cdf, pdf);
  y = V::mul(x, cdf);
  dydx = V::fmadd(x, pdf, cdf);
}
