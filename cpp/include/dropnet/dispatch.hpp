// Run-time choice of the instruction-set level the kernels run at, and the process-wide
// threading controls (ISA-neutral; compiled once).
#pragma once
#include <string>

namespace dropnet {

enum class Isa : int { base = 0, v3 = 1 };

// The level in use: the best the CPU supports among those built, unless the environment
// variable DROPNET_CPU_CAPABILITY asks for a lower one ("baseline"/"default").
Isa active_isa();
bool isa_supported(Isa isa);
bool isa_built(Isa isa);
std::string isa_name(Isa isa);
void set_active_isa(Isa isa);

int num_threads();
void set_num_threads(int n);
bool openmp_enabled();
// Installs the at-fork handler that leaves a forked child single-threaded.
void install_fork_handler();

}  // namespace dropnet
