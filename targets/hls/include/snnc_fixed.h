// snnc_fixed.h - signed fixed-point numbers for the C++ that snnc's hls target emits.
//
// snnc::fixed<W, I, Q, O> is a signed two's-complement number of W bits (1 <= W <= 63), I of them
// integer bits including the sign, F = W - I fraction bits: raw code v, value v * 2^-F.
//
//   - Products and sums are exact: a*b has W1+W2 bits and I1+I2 integer bits; a+b and a-b have
//     max(F1,F2) fraction and max(I1,I2)+1 integer bits (the rules of ap_fixed).
//   - Rounding and overflow happen only when a value is assigned to (constructed as) a type with
//     fewer bits, with the destination's modes:
//       Q = TRN:      floor(y), y = value * 2^F           (toward minus infinity)
//       Q = TRN_ZERO: toward zero
//       Q = RND:      floor(y + 1/2)                      (nearest, ties toward plus infinity)
//       Q = RND_ZERO, RND_INF, RND_MIN_INF, RND_CONV: nearest, ties toward zero, away from zero,
//                     toward minus infinity, to even
//       O = WRAP:     keep the low W bits, sign-extended  (two's complement wrap-around)
//       O = SAT:      clamp to [-2^(W-1), 2^(W-1) - 1]
//       O = SAT_SYM:  clamp to [-(2^(W-1) - 1), 2^(W-1) - 1]
//   - Comparisons are exact.
//   - From a double d: y = d * 2^F (exact); y is clamped to [-2^62, 2^62]; then rounded (TRN/RND
//     as above) and overflowed (WRAP/SAT). Ints convert as doubles.
//
// Nothing here is vendor code. Define SNNC_USE_AP_FIXED to map the same types onto Vitis HLS
// ap_fixed<W, I, AP_<Q>, AP_<O>>, which follows the same rules (ap_fixed.h is then
// taken from the HLS tool's include path).
#ifndef SNNC_FIXED_H
#define SNNC_FIXED_H

#include <cmath>
#include <cstdint>

namespace snnc {

enum Round { TRN, TRN_ZERO, RND, RND_ZERO, RND_INF, RND_MIN_INF, RND_CONV };
enum Overflow { WRAP, SAT, SAT_SYM };

// The signed code stored little-endian in `bytes` (1..8) bytes at `raw` (weights.bin's layout).
inline int64_t code_from_bytes(const unsigned char* raw, int bytes) {
  uint64_t u = 0;
  for (int j = 0; j < bytes; ++j) u |= static_cast<uint64_t>(raw[j]) << (8 * j);
  const int shift = 64 - 8 * bytes;
  return static_cast<int64_t>(u << shift) >> shift;  // sign-extended
}

}  // namespace snnc

#ifdef SNNC_USE_AP_FIXED
#include <ap_fixed.h>
namespace snnc {
constexpr ap_q_mode ap_round(Round q) {
  return q == TRN ? AP_TRN : q == TRN_ZERO ? AP_TRN_ZERO : q == RND ? AP_RND : q == RND_ZERO ? AP_RND_ZERO
       : q == RND_INF ? AP_RND_INF : q == RND_MIN_INF ? AP_RND_MIN_INF : AP_RND_CONV;
}
constexpr ap_o_mode ap_overflow(Overflow o) { return o == WRAP ? AP_WRAP : o == SAT ? AP_SAT : AP_SAT_SYM; }
template <int W, int I, Round Q = TRN, Overflow O = WRAP>
using fixed = ap_fixed<W, I, ap_round(Q), ap_overflow(O)>;
}  // namespace snnc
#else

namespace snnc {
namespace detail {

constexpr int64_t pow2(int n) { return static_cast<int64_t>(1) << n; }

// floor(v / 2^s) for s >= 1, without relying on the shift of negative numbers.
constexpr int64_t floor_shift(int64_t v, int s) {
  return v >= 0 ? v / pow2(s) : -((-(v + 1)) / pow2(s)) - 1;
}

// whether a value floor-rounded to q with remainder r (0 <= r < one, half = one / 2) rounds up
constexpr bool round_up(Round q, bool negative, int64_t q0, bool inexact, bool above, bool tie) {
  switch (q) {
    case TRN: return false;
    case TRN_ZERO: return negative && inexact;
    case RND: return above || tie;
    case RND_ZERO: return above || (tie && negative);
    case RND_INF: return above || (tie && !negative);
    case RND_MIN_INF: return above;
    default: return above || (tie && (q0 & 1));  // RND_CONV
  }
}

// v * 2^-s rounded with q (s > 0), or exactly v * 2^-s (s <= 0).
constexpr int64_t shift(int64_t v, int s, Round q) {
  if (s <= 0) return v * pow2(-s);
  const int64_t q0 = floor_shift(v, s);
  const int64_t r = v - q0 * pow2(s);
  const int64_t half = pow2(s - 1);
  return q0 + (round_up(q, v < 0, q0, r != 0, r > half, r == half) ? 1 : 0);
}

constexpr int64_t overflow(int64_t v, int W, Overflow o) {
  const int64_t hi = pow2(W - 1) - 1, lo = o == SAT_SYM ? -hi : -pow2(W - 1);
  if (o != WRAP) return v > hi ? hi : (v < lo ? lo : v);
  const uint64_t mask = (static_cast<uint64_t>(1) << W) - 1;
  uint64_t u = static_cast<uint64_t>(v) & mask;
  if (u >> (W - 1)) return static_cast<int64_t>(u) - pow2(W - 1) - pow2(W - 1);
  return static_cast<int64_t>(u);
}

// the code of type <W, Q, O> for the value v * 2^-s: rounding when s > 0, overflow always (a
// left shift is computed without intermediate overflow)
constexpr int64_t convert(int64_t v, int s, int W, Round q, Overflow o) {
  if (s >= 0) return overflow(shift(v, s, q), W, o);
  const int n = -s;
  if (o == WRAP) {
    const uint64_t u = n >= 64 ? 0 : static_cast<uint64_t>(v) << n;
    return overflow(static_cast<int64_t>(u & ((static_cast<uint64_t>(1) << W) - 1)), W, WRAP);
  }
  const int64_t hi = pow2(W - 1) - 1, lo = o == SAT_SYM ? -hi : -pow2(W - 1);
  const int64_t top = n >= 63 ? 0 : hi / pow2(n);         // the codes v with lo <= v * 2^n <= hi
  const int64_t bottom = n >= 63 ? 0 : -((-lo) / pow2(n));
  if (v > top) return hi;
  if (v < bottom) return lo;
  return n >= 63 ? 0 : v * pow2(n);
}

constexpr double ldexp2(double d, int n) {  // d * 2^n, exact for |n| <= 62 (barring underflow)
  return n < 0 ? d / static_cast<double>(pow2(-n)) : d * static_cast<double>(pow2(n));
}

constexpr int64_t from_double(double d, int F, int W, Round q, Overflow o) {
  const double limit = 4611686018427387904.0;  // 2^62
  double y = ldexp2(d, F);
  y = y > limit ? limit : (y < -limit ? -limit : y);
  int64_t f = static_cast<int64_t>(y);  // toward zero
  if (static_cast<double>(f) > y) f -= 1;  // floor
  const double frac = y - static_cast<double>(f);  // exact, in [0, 1)
  f += round_up(q, y < 0, f, frac != 0, frac > 0.5, frac == 0.5) ? 1 : 0;
  return overflow(f, W, o);
}

}  // namespace detail

template <int W, int I, Round Q = TRN, Overflow O = WRAP>
struct fixed {
  static_assert(W >= 1 && W <= 63, "snnc::fixed supports 1..63 bits");
  static constexpr int F = W - I;
  int64_t v = 0;  // raw code: value = v * 2^-F

  constexpr fixed() = default;
  constexpr fixed(double d) : v(detail::from_double(d, F, W, Q, O)) {}
  constexpr fixed(int i) : fixed(static_cast<double>(i)) {}
  template <int W2, int I2, Round Q2, Overflow O2>
  constexpr fixed(const fixed<W2, I2, Q2, O2>& o)
      : v(detail::convert(o.v, (W2 - I2) - F, W, Q, O)) {}

  static constexpr fixed from_raw(int64_t code) { fixed r; r.v = code; return r; }
  double to_double() const { return std::ldexp(static_cast<double>(v), -F); }

  template <class T>
  fixed& operator+=(const T& o) { return *this = *this + o; }
};

constexpr int max_int(int a, int b) { return a > b ? a : b; }

template <int W1, int I1, Round Q1, Overflow O1, int W2, int I2, Round Q2, Overflow O2>
constexpr auto operator*(const fixed<W1, I1, Q1, O1>& a, const fixed<W2, I2, Q2, O2>& b) {
  return fixed<W1 + W2, I1 + I2>::from_raw(a.v * b.v);
}

// the exact type of a +/- b
template <int W1, int I1, int W2, int I2>
using sum_t = fixed<max_int(W1 - I1, W2 - I2) + max_int(I1, I2) + 1, max_int(I1, I2) + 1>;

template <int W1, int I1, Round Q1, Overflow O1, int W2, int I2, Round Q2, Overflow O2>
constexpr auto operator+(const fixed<W1, I1, Q1, O1>& a, const fixed<W2, I2, Q2, O2>& b) {
  using R = sum_t<W1, I1, W2, I2>;
  return R::from_raw(a.v * detail::pow2(R::F - (W1 - I1)) + b.v * detail::pow2(R::F - (W2 - I2)));
}

template <int W1, int I1, Round Q1, Overflow O1, int W2, int I2, Round Q2, Overflow O2>
constexpr auto operator-(const fixed<W1, I1, Q1, O1>& a, const fixed<W2, I2, Q2, O2>& b) {
  using R = sum_t<W1, I1, W2, I2>;
  return R::from_raw(a.v * detail::pow2(R::F - (W1 - I1)) - b.v * detail::pow2(R::F - (W2 - I2)));
}

// exact comparison: both codes aligned to the finer binary point
#define SNNC_FIXED_COMPARE(OP)                                                                    \
  template <int W1, int I1, Round Q1, Overflow O1, int W2, int I2, Round Q2, Overflow O2>          \
  constexpr bool operator OP(const fixed<W1, I1, Q1, O1>& a, const fixed<W2, I2, Q2, O2>& b) {    \
    using R = sum_t<W1, I1, W2, I2>;                                                               \
    return a.v * detail::pow2(R::F - (W1 - I1)) OP b.v * detail::pow2(R::F - (W2 - I2));           \
  }
SNNC_FIXED_COMPARE(>=)
SNNC_FIXED_COMPARE(>)
SNNC_FIXED_COMPARE(<=)
SNNC_FIXED_COMPARE(<)
SNNC_FIXED_COMPARE(==)
SNNC_FIXED_COMPARE(!=)
#undef SNNC_FIXED_COMPARE

}  // namespace snnc
#endif  // SNNC_USE_AP_FIXED
#endif  // SNNC_FIXED_H
