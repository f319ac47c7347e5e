#include "apps/plot.h"

#include <fstream>
#include <iostream>
#include <map>
#include <vector>

#include "apps/gnuplot.h"
#include "engine/check.h"
#include "nn/json.h"

namespace apps {

std::string plot_run(const std::string& dir) {
  const std::string metrics = dir + "/metrics.jsonl";
  std::ifstream in(metrics);
  LONGMIX_CHECK(in.good(), "plot: cannot open " << metrics << " (is " << dir << " a run directory?)");
  // split -> rows of (step, loss, accuracy)
  std::map<std::string, std::vector<std::string>> rows;
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    const nn::JsonValue v = nn::parse_json(line, metrics + " line " + std::to_string(line_no));
    const nn::JsonValue *split = v.find("split"), *step = v.find("step"), *loss = v.find("loss"),
                        *acc = v.find("accuracy");
    if (!split || !step || !loss || !acc) continue;
    using Kind = nn::JsonValue::Kind;  // null: a log window whose every step was skipped
    if (loss->kind != Kind::number || acc->kind != Kind::number) continue;
    rows[split->text].push_back(step->text + " " + loss->text + " " + acc->text);
  }
  LONGMIX_CHECK(!rows["train"].empty(), "plot: " << metrics << " has no training records yet");
  {
    std::ofstream dat(dir + "/curves.dat");
    for (const char* split : {"train", "val"}) {  // one gnuplot data block per split
      dat << "# " << split << ": step loss accuracy\n";
      for (const std::string& r : rows[split]) dat << r << "\n";
      dat << "\n\n";
    }
  }
  const std::string png = dir + "/curves.png";
  {
    std::ofstream gp(dir + "/curves.gp");
    gp << "set terminal pngcairo size 1200,450\n"
       << "set output '" << png << "'\n"
       << "set multiplot layout 1,2 title '" << dir << "'\n"
       << "set xlabel 'step'\nset grid\nset key top right\n"
       << "set ylabel 'loss'\nset logscale y\n"
       << "plot '" << dir << "/curves.dat' index 0 using 1:2 with lines title 'train', '' index 1 using 1:2 "
          "with linespoints title 'validation'\n"
       << "unset logscale y\nset ylabel 'accuracy'\nset key bottom right\n"
       << "plot '" << dir << "/curves.dat' index 0 using 1:3 with lines title 'train', '' index 1 using 1:3 "
          "with linespoints title 'validation'\n"
       << "unset multiplot\n";
  }
  return run_gnuplot(dir + "/curves.gp", "plot") ? png : "";
}

int plot_main(int argc, const char* const* argv) {
  if (argc != 2 || std::string(argv[1]) == "--help") {
    std::cout << "usage: longmix plot RUN_DIR   (draws RUN_DIR/curves.png from RUN_DIR/metrics.jsonl with gnuplot)\n";
    return argc == 2 ? 0 : 2;
  }
  const std::string dir = argv[1];
  LONGMIX_CHECK(dir.find('\'') == std::string::npos, "plot: a run directory with a quote in its name is not supported");
  const std::string png = plot_run(dir);
  if (png.empty()) return 1;
  std::cout << "wrote " << png << "\n";
  return 0;
}

}  // namespace apps
