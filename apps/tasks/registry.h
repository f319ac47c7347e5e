// Builds a task by name from flags.
#pragma once
#include <memory>

#include "apps/flags.h"
#include "apps/tasks/task.h"

namespace apps {

void add_task_flags(Flags& flags);
void add_fashion_mnist_flags(Flags& flags);  // --data-dir, --augment, --pixels (part of the above)
std::unique_ptr<Task> make_task(const Flags& flags);

}  // namespace apps
