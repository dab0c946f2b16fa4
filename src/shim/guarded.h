// What every entry point of the shim does with a C++ exception: its message, returned to Rust
// (valid until the next call on this thread); null when the call succeeded.
#pragma once
#include <exception>
#include <string>

namespace lmeff_shim {
inline thread_local std::string last_error;

template <typename F> const char *guarded(F f) {
  try {
    f();
    return nullptr;
  } catch (const std::exception &e) {
    last_error = e.what();
    return last_error.c_str();
  }
}
}  // namespace lmeff_shim
