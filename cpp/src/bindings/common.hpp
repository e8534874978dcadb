// Helpers shared by the binding files: strict array access (exact dtype, C-contiguous,
// no silent copies), name → enum parsing, and the per-ISA dispatch macro.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "dropnet/dispatch.hpp"
#include "dropnet/spec.hpp"

#define DROPNET_KERNEL_NS base
#include "dropnet/kernels.hpp"
#undef DROPNET_KERNEL_NS
#ifdef DROPNET_HAVE_V3
#define DROPNET_KERNEL_NS v3
#include "dropnet/kernels.hpp"
#undef DROPNET_KERNEL_NS
#define DROPNET_CALL_V3(fn, ...) \
  ::dropnet::active_isa() == ::dropnet::Isa::v3 ? ::dropnet::v3::fn(__VA_ARGS__):
#else
#define DROPNET_CALL_V3(fn, ...)
#endif
#ifdef DROPNET_HAVE_V4
#define DROPNET_KERNEL_NS v4
#include "dropnet/kernels.hpp"
#undef DROPNET_KERNEL_NS
#define DROPNET_CALL_V4(fn, ...) \
  ::dropnet::active_isa() == ::dropnet::Isa::v4 ? ::dropnet::v4::fn(__VA_ARGS__):
#else
#define DROPNET_CALL_V4(fn, ...)
#endif
// fn from the namespace of the active level.
#define DROPNET_CALL(fn, ...)       \
  (DROPNET_CALL_V4(fn, __VA_ARGS__) \
       DROPNET_CALL_V3(fn, __VA_ARGS__)::dropnet::base::fn(__VA_ARGS__))

namespace dropnet::py_bind {
namespace py = pybind11;

template <class T>
const char* dtype_name() {
  return sizeof(T) == 4 ? "float32" : "float64";
}

// The array's data as T*, after checking it is exactly T and C-contiguous (and
// writeable when written to). Conversions happen once, in Python, never here.
template <class T>
T* data_of(const py::array& a, const char* what, bool write = false) {
  // By type number, not identity: arrays rebuilt by pickle (multiprocessing) carry an
  // equal dtype object of their own; isinstance already rejects non-native byte order.
  if (!py::isinstance<py::array_t<T>>(a) || a.dtype().num() != py::dtype::of<T>().num())
    throw py::type_error(std::string(what) + ": expected a " + dtype_name<T>() +
                         " array, received dtype " + std::string(py::str(a.dtype())));
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(what) + ": expected a C-contiguous array");
  if (write && !a.writeable())
    throw py::value_error(std::string(what) + ": expected a writeable array");
  return static_cast<T*>(const_cast<void*>(a.data()));
}

template <class T>
T* data_or_null(const py::object& o, const char* what, bool write = false) {
  if (o.is_none()) return nullptr;
  return data_of<T>(o.cast<py::array>(), what, write);
}

inline std::vector<index_t> shape_of(const py::array& a) {
  return std::vector<index_t>(a.shape(), a.shape() + a.ndim());
}

Act parse_act(const std::string& s);
LossKind parse_loss(const std::string& s);

void register_kernels(py::module_& m);
void register_network(py::module_& m);

}  // namespace dropnet::py_bind
