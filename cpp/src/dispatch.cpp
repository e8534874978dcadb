// Instruction-set detection and selection, thread-count controls and the at-fork handler.
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#endif
#include "dropnet/dispatch.hpp"

#include "dropnet/common.hpp"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace dropnet {

namespace {
// The best level this CPU runs (built or not); cached, since the answer cannot change.
Isa detect_cpu() {
#if defined(__x86_64__) || defined(_M_X64)
  static const Isa level = [] {
    __builtin_cpu_init();
    const bool v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    __builtin_cpu_supports("bmi2");
    if (!v3) return Isa::base;
    const bool v4 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                    __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    return v4 ? Isa::v4 : Isa::v3;
  }();
  return level;
#else
  return Isa::base;
#endif
}

Isa best_runnable() {
  for (Isa isa : {Isa::v4, Isa::v3})
    if (isa_supported(isa)) return isa;
  return Isa::base;
}

Isa initial() {
  const Isa best = best_runnable();
  if (const char* env = std::getenv("DROPNET_CPU_CAPABILITY")) {
    if (!std::strcmp(env, "baseline") || !std::strcmp(env, "default") || !std::strcmp(env, "base"))
      return Isa::base;
    // A cap: the named level or the best below it that runs here.
    if (!std::strcmp(env, "x86-64-v3") || !std::strcmp(env, "avx2"))
      return best == Isa::v4 ? Isa::v3 : best;
  }
  return best;
}

Isa g_isa = initial();

void child_after_fork() {
#ifdef _OPENMP
  // libgomp's thread pool does not survive fork: a child that reuses it can hang.
  omp_set_num_threads(1);
#endif
}
}  // namespace

namespace {
// One line of a sysfs file, or "" when it cannot be read.
std::string read_line(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return line;
}

// "48K", "2048K", "260M" → bytes; 0 when unreadable.
long parse_size(const std::string& s) {
  char* end = nullptr;
  const long v = std::strtol(s.c_str(), &end, 10);
  if (v <= 0 || end == s.c_str()) return 0;
  if (*end == 'K') return v << 10;
  if (*end == 'M') return v << 20;
  if (*end == 'G') return v << 30;
  return v;
}

// How many CPUs share a cache, from its shared_cpu_list ("0-1", "0,2", "3").
long count_cpus(const std::string& list) {
  long n = 0;
  std::size_t i = 0;
  while (i < list.size()) {
    char* end = nullptr;
    const long a = std::strtol(list.c_str() + i, &end, 10);
    if (end == list.c_str() + i) break;
    long b = a;
    i = static_cast<std::size_t>(end - list.c_str());
    if (i < list.size() && list[i] == '-') {
      b = std::strtol(list.c_str() + i + 1, &end, 10);
      i = static_cast<std::size_t>(end - list.c_str());
    }
    n += b >= a ? b - a + 1 : 1;
    if (i < list.size() && list[i] == ',') ++i;
  }
  return n;
}

CacheSizes read_caches() {
  CacheSizes c{0, 0, 0};
  for (int index = 0; index < 8; ++index) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index);
    const std::string type = read_line(dir + "/type");
    if (type.empty()) break;
    if (type == "Instruction") continue;
    const long level = std::strtol(read_line(dir + "/level").c_str(), nullptr, 10);
    const long size = parse_size(read_line(dir + "/size"));
    const long sharing = std::max(1L, count_cpus(read_line(dir + "/shared_cpu_list")));
    if (level == 1) c.l1d = size;
    if (level == 2) c.l2 = size / (size > (8L << 20) ? sharing : 1);
    if (level == 3) c.l3_per_core = size / sharing;
  }
#ifdef _SC_LEVEL1_DCACHE_SIZE
  if (c.l1d <= 0) c.l1d = sysconf(_SC_LEVEL1_DCACHE_SIZE);
  if (c.l2 <= 0) c.l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
  if (c.l1d <= 0) c.l1d = 32L << 10;
  if (c.l2 <= 0) c.l2 = 1L << 20;
  if (c.l3_per_core <= 0) c.l3_per_core = 2L << 20;
  return c;
}
}  // namespace

const CacheSizes& cpu_caches() {
  static const CacheSizes caches = read_caches();
  return caches;
}

Isa active_isa() { return g_isa; }
bool isa_built(Isa isa) {
  switch (isa) {
    case Isa::base:
      return true;
    case Isa::v3:
#ifdef DROPNET_HAVE_V3
      return true;
#else
      return false;
#endif
    case Isa::v4:
#ifdef DROPNET_HAVE_V4
      return true;
#else
      return false;
#endif
  }
  return false;
}
bool isa_supported(Isa isa) {
  return isa_built(isa) && static_cast<int>(isa) <= static_cast<int>(detect_cpu());
}
Isa isa_best() { return best_runnable(); }
std::string isa_name(Isa isa) {
  switch (isa) {
    case Isa::v3:
      return "x86-64-v3 (AVX2+FMA)";
    case Isa::v4:
      return "x86-64-v4 (AVX-512)";
    default:
      return "baseline";
  }
}
std::string isa_built_names() {
  std::string out;
  for (Isa isa : {Isa::base, Isa::v3, Isa::v4})
    if (isa_built(isa)) out += (out.empty() ? "" : ", ") + isa_name(isa);
  return out;
}
void set_active_isa(Isa isa) { g_isa = isa; }

int num_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}
void set_num_threads(int n) {
#ifdef _OPENMP
  omp_set_num_threads(n);
#else
  (void)n;
#endif
}
bool openmp_enabled() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}
void install_fork_handler() {
  static bool done = false;
  if (!done) {
    pthread_atfork(nullptr, nullptr, child_after_fork);
    done = true;
  }
}

namespace {
#if defined(__SSE__) || defined(__x86_64__)
// The calling thread's MXCSR before the outermost guard; restored when it ends.
thread_local unsigned t_saved_csr = 0;
thread_local int t_depth = 0;

void flush_on_this_thread() {
  if (t_depth++ == 0) {
    t_saved_csr = _mm_getcsr();
    _mm_setcsr(t_saved_csr | kFlushBits);
  }
}
void restore_on_this_thread() {
  if (t_depth > 0 && --t_depth == 0) _mm_setcsr(t_saved_csr);
}
#else
void flush_on_this_thread() {}
void restore_on_this_thread() {}
#endif
}  // namespace

unsigned flush_mode_outside() {
#if defined(__SSE__) || defined(__x86_64__)
  return (t_depth > 0 ? t_saved_csr : _mm_getcsr()) & kFlushBits;
#else
  return 0;
#endif
}

// The calling thread only: the kernels' parallel regions hand its mode to their team
// (FollowFlush), so a call that runs on one thread wakes no team for this.
FlushDenormals::FlushDenormals() { flush_on_this_thread(); }
FlushDenormals::~FlushDenormals() { restore_on_this_thread(); }

}  // namespace dropnet
