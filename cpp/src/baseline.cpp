// The parts of the driver's interface (spec.hpp) with code of their own, compiled once, at
// the baseline level, for the drivers of every instruction-set level: the monitor's time
// budget (Pacer) and the out-of-memory error.
#include <cstdio>

#include "dropnet/spec.hpp"

namespace dropnet {

OutOfMemory::OutOfMemory(const char* what, double bytes, index_t rows) {
  char text[256];
  std::snprintf(text, sizeof text,
                "could not allocate %.3g GiB for %s of %lld rows; the model is as it was before "
                "the call (a smaller batch_size needs less)",
                bytes / (1024.0 * 1024.0 * 1024.0), what, static_cast<long long>(rows));
  message_ = text;
}

const char* OutOfMemory::what() const noexcept { return message_.c_str(); }

void Pacer::reset() {
  stride_ = countdown_ = 1;
  last_read_ = std::chrono::steady_clock::now();
  next_tick_ = last_read_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                std::chrono::duration<double>(kMonitorIntervalSeconds));
}

bool Pacer::due() {
  if (--countdown_ > 0) return false;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_read_).count();
  last_read_ = now;
  const double per_call = since / double(stride_);
  // About four clock reads per interval; the stride at most doubles per read, since the
  // first reads see too little work to estimate from.
  const double fit = per_call > 0.0 ? kMonitorIntervalSeconds / 4.0 / per_call : 1.0;
  stride_ = fit < 1.0 ? 1 : fit > double(2 * stride_) ? 2 * stride_ : std::int64_t(fit);
  countdown_ = stride_;
  if (now < next_tick_) return false;
  next_tick_ = now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                         std::chrono::duration<double>(kMonitorIntervalSeconds));
  return true;
}

}  // namespace dropnet
