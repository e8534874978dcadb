// The extension module dropnet._core: wires the per-family registrations and the
// process-wide configuration (ISA level, threads).
#include <pybind11/pybind11.h>
#include <algorithm>
#include <thread>

#include "common.hpp"

#ifndef DROPNET_VERSION
#define DROPNET_VERSION "unknown"
#endif
#ifndef DROPNET_CXX_COMPILER
#define DROPNET_CXX_COMPILER "unknown"
#endif

namespace py = pybind11;
using namespace dropnet;

PYBIND11_MODULE(_core, m) {
  m.doc() = "dropnet's C++ core: kernels and the training-loop driver";
  install_fork_handler();
  m.attr("__version__") = DROPNET_VERSION;
  m.def(
      "config",
      []() {
        py::dict d;
        d["version"] = DROPNET_VERSION;
        d["compiler"] = DROPNET_CXX_COMPILER;
        d["isa"] = isa_name(active_isa());
        d["isa_best"] = isa_name(isa_best());
        d["isa_built"] = isa_built_names();
        d["openmp"] = openmp_enabled();
        d["threads"] = num_threads();
        return d;
      },
      "Build and run-time configuration of the core.");
  m.def("num_threads", &num_threads, "Threads the next kernel call may use (omp_get_max_threads).");
  m.def(
      "set_num_threads",
      [](long long n) {
        // Beyond a few threads per CPU, the pool cannot be created (and would not help).
        const long long limit = std::max(256LL, 4LL * std::thread::hardware_concurrency());
        if (n < 1 || n > limit)
          throw py::value_error("set_num_threads: expected 1 <= n <= " + std::to_string(limit) +
                                ", received " + std::to_string(n));
        set_num_threads(int(n));
      },
      py::arg("n"));
  m.def(
      "set_cpu_capability",
      [](const std::string& s) {
        Isa isa;
        if (s == "baseline" || s == "default") {
          isa = Isa::base;
        } else if (s == "x86-64-v3" || s == "avx2") {
          isa = Isa::v3;
        } else if (s == "x86-64-v4" || s == "avx512") {
          isa = Isa::v4;
        } else {
          throw py::value_error(
              "set_cpu_capability: expected 'baseline', 'x86-64-v3' or 'x86-64-v4', received '" +
              s + "'");
        }
        if (!isa_supported(isa))
          throw py::value_error("set_cpu_capability: " + s +
                                " kernels are not available on this CPU or build");
        set_active_isa(isa);
      },
      py::arg("level"));
  py_bind::register_kernels(m);
  py_bind::register_network(m);
}
