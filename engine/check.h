// Argument checks that throw with a message naming the op and the shapes involved.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace engine {

// Every error longmix raises on bad input: shapes, flags, files. Callers print what().
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace engine

// LONGMIX_CHECK(cond, "matmul: a " << a.shape() << " vs b " << b.shape());
#define LONGMIX_CHECK(cond, message_stream)                  \
  do {                                                      \
    if (!(cond)) {                                          \
      std::ostringstream longmix_check_os_;                 \
      longmix_check_os_ << message_stream;                  \
      throw ::engine::Error(longmix_check_os_.str());       \
    }                                                       \
  } while (0)
