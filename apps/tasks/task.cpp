#include "apps/tasks/task.h"

namespace apps {

const char* split_name(Split split) {
  switch (split) {
    case Split::train: return "train";
    case Split::val: return "val";
    case Split::test: return "test";
  }
  return "?";
}

}  // namespace apps
