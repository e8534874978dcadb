// Philox4x32-10 counter-based generator (Salmon et al., SC'11): every random number is a
// pure function of (key, counter), so masks need no state and no thread ordering.
#pragma once
#include <cmath>
#include <cstdint>

#include "dropnet/common.hpp"

#if defined(__AVX2__) && defined(__BMI2__)
#include <immintrin.h>
#endif

DROPNET_ISA_BEGIN

inline Philox4x32 philox4x32_10(std::uint32_t c0, std::uint32_t c1, std::uint32_t c2,
                                std::uint32_t c3, std::uint32_t k0, std::uint32_t k1) {
  constexpr std::uint64_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
  constexpr std::uint32_t W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    const std::uint64_t p0 = M0 * c0, p1 = M1 * c2;
    const std::uint32_t hi0 = std::uint32_t(p0 >> 32), lo0 = std::uint32_t(p0);
    const std::uint32_t hi1 = std::uint32_t(p1 >> 32), lo1 = std::uint32_t(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += W0;
    k1 += W1;
  }
  return {{c0, c1, c2, c3}};
}

// Stream identity: a 64-bit key (the seed) and a 64-bit stream id (layer, purpose,
// step); the element index fills the remaining 64 counter bits.
struct RngStream {
  std::uint32_t k0, k1, s0, s1;
  RngStream(std::uint64_t seed, std::uint64_t stream)
      : k0(std::uint32_t(seed)),
        k1(std::uint32_t(seed >> 32)),
        s0(std::uint32_t(stream)),
        s1(std::uint32_t(stream >> 32)) {}
  // Four 32-bit words for block b (elements 4b .. 4b+3).
  Philox4x32 block(std::uint64_t b) const {
    return philox4x32_10(std::uint32_t(b), std::uint32_t(b >> 32), s0, s1, k0, k1);
  }
  std::uint32_t word(std::uint64_t i) const { return block(i >> 2).v[i & 3]; }
};

// Eight consecutive blocks b0..b0+7 of one stream at once, laid out for SIMD: out[w][l]
// is word w of block b0+l. Written as lane loops the compiler turns into vector
// multiplies; bit-identical to eight calls of block().
inline void philox_x8(const RngStream& s, std::uint64_t b0, std::uint32_t out[4][8]) {
  constexpr std::uint64_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
  std::uint32_t c0[8], c1[8], c2[8], c3[8];
  for (int l = 0; l < 8; ++l) {
    c0[l] = std::uint32_t(b0 + std::uint64_t(l));
    c1[l] = std::uint32_t((b0 + std::uint64_t(l)) >> 32);
    c2[l] = s.s0;
    c3[l] = s.s1;
  }
  std::uint32_t k0 = s.k0, k1 = s.k1;
  for (int round = 0; round < 10; ++round) {
#pragma omp simd
    for (int l = 0; l < 8; ++l) {
      const std::uint64_t p0 = M0 * c0[l], p1 = M1 * c2[l];
      const std::uint32_t n0 = std::uint32_t(p1 >> 32) ^ c1[l] ^ k0;
      const std::uint32_t n2 = std::uint32_t(p0 >> 32) ^ c3[l] ^ k1;
      c1[l] = std::uint32_t(p1);
      c3[l] = std::uint32_t(p0);
      c0[l] = n0;
      c2[l] = n2;
    }
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  for (int l = 0; l < 8; ++l) {
    out[0][l] = c0[l];
    out[1][l] = c1[l];
    out[2][l] = c2[l];
    out[3][l] = c3[l];
  }
}

// Keep bits of 32 consecutive elements whose words come from blocks b0..b0+7 (element
// 4b + w uses word w of block b0 + b): bit i set iff word >= thr.
#if defined(__AVX2__) && defined(__BMI2__)
inline __m256i philox_mulhilo(__m256i a, __m256i m, __m256i& lo) {
  const __m256i even = _mm256_mul_epu32(a, m);
  const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
  lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
  return _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
}

inline std::uint32_t philox_keep_bits32(const RngStream& s, std::uint64_t b0, std::uint32_t thr) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  // 64-bit block index b0 + l split into low and high words (carry when the low word wraps).
  const __m256i lo_base = _mm256_set1_epi32(int(std::uint32_t(b0)));
  __m256i c0 = _mm256_add_epi32(lo_base, lane);
  const __m256i wrapped =
      _mm256_cmpgt_epi32(_mm256_xor_si256(lo_base, _mm256_set1_epi32(int(0x80000000u))),
                         _mm256_xor_si256(c0, _mm256_set1_epi32(int(0x80000000u))));
  __m256i c1 = _mm256_sub_epi32(_mm256_set1_epi32(int(std::uint32_t(b0 >> 32))), wrapped);
  __m256i c2 = _mm256_set1_epi32(int(s.s0)), c3 = _mm256_set1_epi32(int(s.s1));
  const __m256i m0 = _mm256_set1_epi32(int(0xD2511F53u)), m1 = _mm256_set1_epi32(int(0xCD9E8D57u));
  std::uint32_t k0 = s.k0, k1 = s.k1;
  for (int round = 0; round < 10; ++round) {
    __m256i lo0, lo1;
    const __m256i hi0 = philox_mulhilo(c0, m0, lo0);
    const __m256i hi1 = philox_mulhilo(c2, m1, lo1);
    c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32(int(k0)));
    c1 = lo1;
    c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32(int(k1)));
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  // Unsigned word >= thr  <=>  signed (word ^ 2^31) > (thr ^ 2^31) - 1 (thr > 0 here).
  const __m256i flip = _mm256_set1_epi32(int(0x80000000u));
  const __m256i t = _mm256_set1_epi32(int((thr ^ 0x80000000u) - 1u));
  auto keep = [&](__m256i w) {
    return std::uint32_t(
        _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_xor_si256(w, flip), t))));
  };
  return _pdep_u32(keep(c0), 0x11111111u) | _pdep_u32(keep(c1), 0x22222222u) |
         _pdep_u32(keep(c2), 0x44444444u) | _pdep_u32(keep(c3), 0x88888888u);
}
#if defined(__AVX512F__)
#define DROPNET_PHILOX_X16 1
// The 32-bit products of 16 lanes at once: high halves returned, low halves in lo.
inline __m512i philox_mulhilo16(__m512i a, __m512i m, __m512i& lo) {
  const __m512i even = _mm512_mul_epu32(a, m);
  const __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);
  lo = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
  return _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
}

// The same for V runs of 64 consecutive elements at AVX-512 width, run v from blocks
// b0 + 16v .. b0 + 16v + 15: bit i of out[v] is bit i of philox_keep_bits32(s, b0 + 16v,
// thr) for i < 32, and of philox_keep_bits32(s, b0 + 16v + 8, thr) shifted up by 32 for
// the rest. The V runs' rounds are independent chains in flight together, so the
// multiplies' latency overlaps instead of stalling each round.
template <int V>
inline void philox_keep_bits64xv(const RngStream& s, std::uint64_t b0, std::uint32_t thr,
                                 std::uint64_t* out) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  __m512i c0[V], c1[V], c2[V], c3[V];
  for (int v = 0; v < V; ++v) {
    const std::uint64_t b = b0 + std::uint64_t(16 * v);
    const __m512i lo_base = _mm512_set1_epi32(int(std::uint32_t(b)));
    c0[v] = _mm512_add_epi32(lo_base, lane);
    const __mmask16 wrapped = _mm512_cmplt_epu32_mask(c0[v], lo_base);
    const __m512i hi_base = _mm512_set1_epi32(int(std::uint32_t(b >> 32)));
    c1[v] = _mm512_mask_add_epi32(hi_base, wrapped, hi_base, _mm512_set1_epi32(1));
    c2[v] = _mm512_set1_epi32(int(s.s0));
    c3[v] = _mm512_set1_epi32(int(s.s1));
  }
  const __m512i m0 = _mm512_set1_epi32(int(0xD2511F53u)), m1 = _mm512_set1_epi32(int(0xCD9E8D57u));
  std::uint32_t k0 = s.k0, k1 = s.k1;
  for (int round = 0; round < 10; ++round) {
    const __m512i key0 = _mm512_set1_epi32(int(k0)), key1 = _mm512_set1_epi32(int(k1));
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      __m512i lo0, lo1;
      const __m512i hi0 = philox_mulhilo16(c0[v], m0, lo0);
      const __m512i hi1 = philox_mulhilo16(c2[v], m1, lo1);
      c0[v] = _mm512_xor_si512(_mm512_xor_si512(hi1, c1[v]), key0);
      c1[v] = lo1;
      c2[v] = _mm512_xor_si512(_mm512_xor_si512(hi0, c3[v]), key1);
      c3[v] = lo0;
    }
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  const __m512i t = _mm512_set1_epi32(int(thr));
  auto keep = [&](__m512i w) { return std::uint64_t(_mm512_cmpge_epu32_mask(w, t)); };
  for (int v = 0; v < V; ++v)
    out[v] = _pdep_u64(keep(c0[v]), 0x1111111111111111ull) |
             _pdep_u64(keep(c1[v]), 0x2222222222222222ull) |
             _pdep_u64(keep(c2[v]), 0x4444444444444444ull) |
             _pdep_u64(keep(c3[v]), 0x8888888888888888ull);
}

// One run of 64 elements (blocks b0..b0+15).
inline std::uint64_t philox_keep_bits64(const RngStream& s, std::uint64_t b0, std::uint32_t thr) {
  std::uint64_t out;
  philox_keep_bits64xv<1>(s, b0, thr, &out);
  return out;
}
#endif
#else
inline std::uint32_t philox_keep_bits32(const RngStream& s, std::uint64_t b0, std::uint32_t thr) {
  std::uint32_t r[4][8];
  philox_x8(s, b0, r);
  std::uint32_t out = 0;
  for (int i = 0; i < 32; ++i) out |= std::uint32_t(r[i & 3][i >> 2] >= thr) << i;
  return out;
}
#endif

// Stream ids: purpose in the top byte, layer in the next 16 bits, step in the low 40.
enum class RngPurpose : std::uint64_t { train_mask = 1, mc_mask = 2, shuffle = 3 };
inline std::uint64_t stream_id(RngPurpose purpose, std::uint32_t layer, std::uint64_t step) {
  return (std::uint64_t(purpose) << 56) | (std::uint64_t(layer & 0xFFFFu) << 40) |
         (step & ((std::uint64_t(1) << 40) - 1));
}

// Uniform in [0, 1) with 24 random bits (exactly representable in float).
inline float u32_to_unit_float(std::uint32_t w) { return float(w >> 8) * (1.0f / 16777216.0f); }
// Uniform in (0, 1], for logarithms.
inline double u32_to_open_unit(std::uint32_t w) { return (double(w) + 1.0) * (1.0 / 4294967296.0); }

// Two standard normals from two words (Box-Muller).
inline void box_muller(std::uint32_t a, std::uint32_t b, double& z0, double& z1) {
  const double r = std::sqrt(-2.0 * std::log(u32_to_open_unit(a)));
  const double t = 6.283185307179586476925 * (double(b) * (1.0 / 4294967296.0));
  z0 = r * std::cos(t);
  z1 = r * std::sin(t);
}

// Keep threshold for dropout: keep iff word >= threshold, so P(keep) = 1 - rate up to 2^-32.
inline std::uint64_t keep_threshold(double rate) {
  if (rate <= 0.0) return 0;
  if (rate >= 1.0) return std::uint64_t(1) << 32;
  return std::uint64_t(std::llround(rate * 4294967296.0));
}

DROPNET_ISA_END
