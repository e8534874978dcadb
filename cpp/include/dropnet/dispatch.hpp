// Run-time choice of the instruction-set level the kernels run at, and the process-wide
// threading controls (ISA-neutral; compiled once).
#pragma once
#include <string>

namespace dropnet {

enum class Isa : int { base = 0, v3 = 1, v4 = 2 };

// The level in use: the best the CPU supports among those built, unless the environment
// variable DROPNET_CPU_CAPABILITY caps it ("baseline"/"default", "x86-64-v3", "x86-64-v4").
Isa active_isa();
// Built into this module and runnable on this CPU.
bool isa_supported(Isa isa);
bool isa_built(Isa isa);
// The best level both built and supported by the CPU.
Isa isa_best();
// The built levels, lowest first, e.g. "baseline, x86-64-v3 (AVX2+FMA)".
std::string isa_built_names();
std::string isa_name(Isa isa);
void set_active_isa(Isa isa);

// This CPU's data caches in bytes, as the OS reports them (sysfs, else sysconf), each
// level per core: l3_per_core is the last level divided among the cores sharing it. A
// level the OS does not report gets a common size (32 KiB, 1 MiB, 2 MiB per core).
struct CacheSizes {
  long l1d, l2, l3_per_core;
};
const CacheSizes& cpu_caches();

int num_threads();
void set_num_threads(int n);
bool openmp_enabled();
// Installs the at-fork handler that leaves a forked child single-threaded.
void install_fork_handler();

// While alive, subnormal float results are flushed to zero and subnormal inputs read as
// zero (x86 MXCSR FTZ and DAZ) on the calling thread, and on the OpenMP threads of each
// parallel region it opens (common.hpp's FollowFlush), as TensorFlow runs Keras models. Training
// with momentum drives unused weights' velocities geometrically into the subnormal range, where
// each operation costs about a hundred cycles; flushing changes only values below 1.2e-38 (float)
// or 2.2e-308 (double). Every thread flushes alike, so results stay the same on any thread count.
// No-op off x86.
class FlushDenormals {
 public:
  FlushDenormals();
  ~FlushDenormals();
  FlushDenormals(const FlushDenormals&) = delete;
  FlushDenormals& operator=(const FlushDenormals&) = delete;
};

}  // namespace dropnet
