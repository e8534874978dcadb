// Instruction-set detection and selection, thread-count controls and the at-fork handler.
#include "dropnet/dispatch.hpp"

#include <pthread.h>

#include <cstdlib>
#include <cstring>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace dropnet {

namespace {
Isa detect() {
#if defined(DROPNET_HAVE_V3) && (defined(__x86_64__) || defined(_M_X64))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("bmi2"))
    return Isa::v3;
#endif
  return Isa::base;
}

Isa initial() {
  Isa best = detect();
  if (const char* env = std::getenv("DROPNET_CPU_CAPABILITY")) {
    if (!std::strcmp(env, "baseline") || !std::strcmp(env, "default") || !std::strcmp(env, "base"))
      return Isa::base;
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

Isa active_isa() { return g_isa; }
bool isa_built(Isa isa) {
#ifdef DROPNET_HAVE_V3
  (void)isa;
  return true;
#else
  return isa == Isa::base;
#endif
}
bool isa_supported(Isa isa) { return isa == Isa::base || (isa_built(isa) && detect() == Isa::v3); }
std::string isa_name(Isa isa) { return isa == Isa::v3 ? "x86-64-v3 (AVX2+FMA)" : "baseline"; }
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

}  // namespace dropnet
