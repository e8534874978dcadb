// Shared basics of the C++ core: index type, ISA namespace macros, threading helpers.
#pragma once
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#endif

namespace dropnet {
using index_t = std::int64_t;

struct Philox4x32 {
  std::uint32_t v[4];
};

// Work (in element operations; GEMMs count multiply-adds / 4) below which a kernel stays
// on one thread: waking an OpenMP team costs microseconds, and far more when the other
// core is busy, so only kernels that take tens of microseconds are split.
constexpr index_t kParallelWork = 1 << 18;

// A GEMM's register tile (MR×NR) and cache blocks (KC, MC, NC), as the kernels report them.
struct GemmBlocking {
  index_t mr, nr, kc, mc, nc;
};

// index_t → size_t for container sizes and subscripts.
constexpr std::size_t sz(index_t v) { return static_cast<std::size_t>(v); }

inline int max_threads() {
#ifdef _OPENMP
  return omp_in_parallel() ? 1 : omp_get_max_threads();
#else
  return 1;
#endif
}

inline bool use_threads(index_t work) { return work >= kParallelWork && max_threads() > 1; }

// Π sizes, refusing negative sizes and products of 2^50 or more (std::invalid_argument).
template <class It>
index_t checked_product(It begin, It end, const std::string& what) {
  index_t p = 1;
  for (It it = begin; it != end; ++it) {
    const index_t v = *it;
    if (v < 0) throw std::invalid_argument(what + ": negative dimension");
    if (v != 0 && p > (index_t(1) << 50) / v)
      throw std::invalid_argument(what + ": shape is too large");
    p *= v;
  }
  return p;
}
inline index_t checked_size(std::initializer_list<index_t> sizes, const char* what) {
  return checked_product(sizes.begin(), sizes.end(), what);
}
inline index_t checked_size(const std::vector<index_t>& sizes, const std::string& what) {
  return checked_product(sizes.begin(), sizes.end(), what);
}

// The calling thread's flush-to-zero mode (x86 MXCSR FTZ and DAZ bits) outside any
// FlushDenormals scope (dispatch.cpp): its present mode when none is open.
unsigned flush_mode_outside();

// Inside a parallel region: this thread computes in the flush-to-zero mode that the
// thread opening the region had, and leaves the region in that thread's mode outside
// dropnet's calls (both read there, by team_mode()). So the team computes as its caller
// does (FlushDenormals), and a team thread born inside a flushing call (threads inherit
// their creator's mode) does not keep flushing for other code sharing the OpenMP runtime.
struct TeamMode {
  unsigned during, after;
};
#if defined(__SSE__) || defined(__x86_64__)
constexpr unsigned kFlushBits = 0x8040;  // MXCSR FTZ (bit 15) | DAZ (bit 6)
inline TeamMode team_mode() { return {_mm_getcsr() & kFlushBits, flush_mode_outside()}; }
class FollowFlush {
 public:
  // (The thread that opened the region goes on in its mode: it is still inside the call.)
  explicit FollowFlush(TeamMode m) : after_(opener() ? m.during : m.after) { set(m.during); }
  ~FollowFlush() { set(after_); }
  FollowFlush(const FollowFlush&) = delete;
  FollowFlush& operator=(const FollowFlush&) = delete;

 private:
  static bool opener() {
#ifdef _OPENMP
    return omp_get_thread_num() == 0;
#else
    return true;
#endif
  }
  static void set(unsigned mode) {
    const unsigned csr = _mm_getcsr();
    if ((csr & kFlushBits) != mode) _mm_setcsr((csr & ~kFlushBits) | mode);
  }
  unsigned after_;
};
#else
inline TeamMode team_mode() { return {0, 0}; }
class FollowFlush {
 public:
  explicit FollowFlush(TeamMode) {}
};
#endif

// f(i) for i in [0, n): split statically across the OpenMP team when `parallel`, else a
// plain loop (an OpenMP region with a false if-clause still costs about half a
// microsecond, which small models pay many times per step).
template <class F>
inline void parallel_for(index_t n, bool parallel, F&& f) {
#ifdef _OPENMP
  if (parallel) {
    const TeamMode mode = team_mode();
#pragma omp parallel
    {
      FollowFlush follow(mode);
#pragma omp for schedule(static)
      for (index_t i = 0; i < n; ++i) f(i);
    }
    return;
  }
#endif
  for (index_t i = 0; i < n; ++i) f(i);
}

// The class ids a sparse categorical head reads per sample of C values whose last axis
// holds K classes: one per row of K (a sequence's steps).
inline index_t sparse_labels(index_t C, index_t K) { return K > 0 ? C / K : C; }
}  // namespace dropnet

// Per-ISA code lives in dropnet::<isa> (base, v3, v4): the same sources are compiled once
// per instruction-set level, and distinct namespaces keep the copies from colliding.
#ifdef DROPNET_ISA
#define DROPNET_ISA_BEGIN \
  namespace dropnet {     \
  namespace DROPNET_ISA {
#define DROPNET_ISA_END \
  }                     \
  }
#endif
