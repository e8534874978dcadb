// The machine's limits that the benchmark measures kernels against: the float32 FMA peak
// of this ISA level on the thread team (register-only multiply-adds, no memory traffic)
// and the copy bandwidth of the team (each thread copies its own contiguous part).
#include <chrono>
#include <cstring>

#include "dropnet/kernels.hpp"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

DROPNET_ISA_BEGIN

namespace {

// Independent chains, enough to cover the FMA latency on two ports.
constexpr int kChains = 16;

#if defined(__AVX512F__)
using Vec = __m512;
constexpr int kLanes = 16;
inline Vec vset(float v) { return _mm512_set1_ps(v); }
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline float vsum(Vec v) {
  alignas(64) float t[16];
  _mm512_store_ps(t, v);
  float s = 0.0f;
  for (float x : t) s += x;
  return s;
}
#elif defined(__AVX2__) && defined(__FMA__)
using Vec = __m256;
constexpr int kLanes = 8;
inline Vec vset(float v) { return _mm256_set1_ps(v); }
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline float vsum(Vec v) {
  alignas(32) float t[8];
  _mm256_store_ps(t, v);
  return ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
}
#else
// Baseline x86-64 has no FMA: a multiply and an add per lane (SSE2, 4 lanes).
typedef float Vec __attribute__((vector_size(16)));
constexpr int kLanes = 4;
inline Vec vset(float v) { return Vec{v, v, v, v}; }
inline Vec vfma(Vec a, Vec b, Vec c) { return a * b + c; }
inline float vsum(Vec v) { return (v[0] + v[1]) + (v[2] + v[3]); }
#endif
constexpr int kFlopsPerOp = 2;  // a multiply and an add per lane

// kChains × iters vector multiply-adds kept in registers; returns a value that depends on
// all of them so nothing is optimized away.
float fma_chains(long iters, float seed) {
  Vec acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = vset(seed + 0.001f * float(c));
  const Vec a = vset(0.999999f), b = vset(1e-7f);
  for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int c = 0; c < kChains; ++c) acc[c] = vfma(acc[c], a, b);
  }
  float s = 0.0f;
  for (int c = 0; c < kChains; ++c) s += vsum(acc[c]);
  return s;
}

}  // namespace

double fma_peak_gflops(double seconds) {
  using clock = std::chrono::steady_clock;
  const int threads = max_threads();
  long iters = 1 << 16;
  // Calibrate on one thread so the timed run lasts about `seconds`.
  for (;;) {
    const auto t0 = clock::now();
    volatile float sink = fma_chains(iters, 1.0f);
    (void)sink;
    const double dt = std::chrono::duration<double>(clock::now() - t0).count();
    if (dt > 0.02 || iters > (1L << 40)) {
      iters = long(double(iters) * seconds / std::max(dt, 1e-6)) + 1;
      break;
    }
    iters *= 4;
  }
  float sinks[256] = {};
  const auto t0 = clock::now();
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
#ifdef _OPENMP
    const int t = omp_get_thread_num();
#else
    const int t = 0;
#endif
    sinks[t % 256] = fma_chains(iters, 1.0f + float(t));
  }
  const double dt = std::chrono::duration<double>(clock::now() - t0).count();
  volatile float keep = sinks[0];
  (void)keep;
  const double flops = double(iters) * kChains * kLanes * kFlopsPerOp * threads;
  return flops / dt / 1e9;
}

void parallel_copy(const void* src, void* dst, std::size_t bytes) {
  const index_t parts = std::max(1, max_threads());
  const std::size_t per = (bytes + std::size_t(parts) - 1) / std::size_t(parts);
  const std::size_t chunk = (per + 63) / 64 * 64;  // whole cache lines per thread
  parallel_for(parts, parts > 1 && bytes >= (1u << 20), [&](index_t p) {
    const std::size_t begin = std::min(bytes, std::size_t(p) * chunk);
    const std::size_t end = std::min(bytes, begin + chunk);
    std::memcpy(static_cast<char*>(dst) + begin, static_cast<const char*>(src) + begin,
                end - begin);
  });
}

DROPNET_ISA_END
