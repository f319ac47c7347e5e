// longmix: one command-line program with subcommands.
#include <cstring>
#include <exception>
#include <iostream>
#include <string>

#include "apps/distributed.h"
#include "apps/eval.h"
#include "apps/gradcheck.h"
#include "apps/plot.h"
#include "apps/scaling/scaling.h"
#include "apps/train.h"
#include "engine/check.h"

namespace {

constexpr const char* kUsage =
    "usage: longmix <command> [flags]\n"
    "\n"
    "commands:\n"
    "  train      train a model on a task (longmix train --help)\n"
    "  eval       metrics of a checkpoint on the validation or test split (longmix eval --help)\n"
    "  plot       draw a run's loss and accuracy curves to PNG with gnuplot (longmix plot RUN_DIR)\n"
    "  gradcheck  check a whole model's gradients against finite differences (longmix gradcheck --help)\n"
    "  scaling    time a workload over thread counts and sequence lengths, with CSV and plots (longmix scaling --help)\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  // Under mpirun, MPI starts before any thread does; a rank that fails ends the whole job
  // (MPI_Abort) instead of leaving the others waiting in a reduction.
  apps::Distributed& world = apps::Distributed::world();
  const std::string who = world.active() ? " (rank " + std::to_string(world.rank()) + " of " +
                                               std::to_string(world.size()) + ")"
                                         : "";
  try {
    if (command == "train") return apps::train_main(argc - 1, argv + 1);
    if (command == "eval") return apps::eval_main(argc - 1, argv + 1);
    if (command == "plot") return apps::plot_main(argc - 1, argv + 1);
    if (command == "gradcheck") return apps::gradcheck_main(argc - 1, argv + 1);
    if (command == "scaling") return apps::scaling_main(argc - 1, argv + 1);
    std::cerr << "longmix: unknown command '" << command << "'\n\n" << kUsage;
    return 2;
  } catch (const engine::Error& e) {
    const std::string message = "\nlongmix " + command + who + ": error: " + e.what() + "\n";
    if (world.active()) world.abort(message, 2);
    std::cerr << message;
    return 2;
  } catch (const std::exception& e) {
    const std::string message = "\nlongmix " + command + who + ": internal error: " + e.what() + "\n";
    if (world.active()) world.abort(message, 1);
    std::cerr << message;
    return 1;
  }
}
