#include "apps/scaling/scaling.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>

#include "apps/gnuplot.h"
#include "apps/scaling/machine_probe.h"
#include "apps/scaling/workloads.h"
#include "engine/allocator.h"
#include "engine/check.h"
#include "engine/cpu.h"
#include "engine/flop_counter.h"
#include "engine/op_profile.h"
#include "engine/threads.h"
#include "nn/json.h"

namespace apps {
namespace {

using Clock = std::chrono::steady_clock;

std::string default_lengths(const std::string& workload) {
  if (workload == "attention") return "1024,2048,4096";  // quadratic: keep the default short
  if (workload == "train") return "1024,4096";
  return "1024,4096,16384";
}

std::string all_thread_counts() {
  std::string s;
  for (int t = 1; t <= engine::online_cores(); ++t) s += (t > 1 ? "," : "") + std::to_string(t);
  return s;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string number(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", x);
  return buf;
}

}  // namespace

std::vector<int64_t> parse_int_list(const std::string& text, const std::string& flag) {
  std::vector<int64_t> values;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    const int64_t v = parse_int(item, "--" + flag);
    LONGMIX_CHECK(v >= 1, "--" << flag << ": values must be >= 1, got " << v);
    LONGMIX_CHECK(values.empty() || v > values.back(),
                  "--" << flag << ": give the values in ascending order without repeats, got '" << text << "'");
    values.push_back(v);
  }
  LONGMIX_CHECK(!values.empty(), "--" << flag << ": expected a comma-separated list such as 1,2, got '" << text << "'");
  return values;
}

void add_scaling_flags(Flags& f) {
  f.add_string("workload", "product", "product, mra, attention or train");
  f.add_string("threads", "", "thread counts, ascending (default: 1 up to every core)");
  f.add_string("seq-len", "", "sequence lengths, ascending (default: 1024,4096,16384; attention 1024,2048,4096; train 1024,4096)");
  f.add_int("reps", 5, "timed repetitions per point, after one warm-up");
  f.add_string("out", "", "directory for the CSV, JSON and plots (default runs/scaling-WORKLOAD)");
  f.add_bool("probe", true, "measure the machine's sgemm and triad peaks for each thread count");
  add_workload_flags(f);
  f.set_default("model", "paramixer");  // the train workload's default model (the published adding preset)
}

ScalingReport run_scaling(const Flags& f, bool quiet) {
  ScalingReport report;
  report.workload = f.get_string("workload");
  const std::vector<int64_t> threads =
      parse_int_list(f.was_set("threads") ? f.get_string("threads") : all_thread_counts(), "threads");
  const bool preset = report.workload == "train" && !f.get_string("config").empty();
  const std::string default_length_list =
      preset ? std::to_string(train_step_flags(f).get_int("seq-len")) : default_lengths(report.workload);
  const std::vector<int64_t> lengths =
      parse_int_list(f.was_set("seq-len") ? f.get_string("seq-len") : default_length_list, "seq-len");
  report.reps = static_cast<int>(f.get_int("reps"));
  LONGMIX_CHECK(report.reps >= 1, "--reps must be >= 1, got " << report.reps);
  report.cpu = engine::cpu_model_name();
  report.cores = engine::online_cores();
  report.isa = engine::isa_name(engine::active_isa());
  report.binding = engine::thread_binding();
  auto say = [&](const std::string& line) {
    if (!quiet) std::cout << line << "\n" << std::flush;
  };
  say("longmix scaling: " + report.cpu + ", " + std::to_string(report.cores) + " cores, kernels " + report.isa + "; " +
      report.binding);

  std::map<int64_t, MachinePeaks> peaks;
  if (f.get_bool("probe"))
    for (int64_t t : threads) {
      engine::set_num_threads(static_cast<int>(t));
      peaks[t] = probe_machine();
      say("probe, " + std::to_string(t) + (t == 1 ? " thread" : " threads") + ": sgemm " + number(peaks[t].sgemm_gflops) + " GFLOP/s, triad " +
          number(peaks[t].triad_gbps) + " GB/s");
    }

  for (int64_t N : lengths) {
    engine::set_num_threads(static_cast<int>(threads.back()));
    const std::unique_ptr<Workload> w = make_workload(report.workload, f, N);
    report.description = w->describe();
    double base_s = 0;
    for (int64_t t : threads) {
      engine::set_num_threads(static_cast<int>(t));
      {
        const engine::OpProfile::Pause unprofiled;  // LONGMIX_PROFILE reports the timed runs only
        w->run();  // warm-up: buffers allocated, primitives created, pages touched
      }
      std::vector<double> times;
      engine::reset_peak_in_use();
      const double flops0 = engine::flops_counted();
      for (int r = 0; r < report.reps; ++r) {
        const Clock::time_point t0 = Clock::now();
        w->run();
        times.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
      }
      ScalingRow row;
      row.workload = report.workload;
      row.seq_len = N;
      row.threads = static_cast<int>(t);
      row.median_s = median(times);
      row.min_s = *std::min_element(times.begin(), times.end());
      row.max_s = *std::max_element(times.begin(), times.end());
      if (t == threads.front()) base_s = row.median_s;
      row.speedup = base_s / row.median_s;
      row.efficiency = row.speedup * static_cast<double>(threads.front()) / static_cast<double>(t);
      row.flops = (engine::flops_counted() - flops0) / report.reps;
      row.bytes = w->min_bytes();
      row.peak_mb = static_cast<double>(engine::allocator_stats().peak_in_use) * 1e-6;
      row.gflops = row.flops / row.median_s * 1e-9;
      row.gbps = row.bytes / row.median_s * 1e-9;
      if (peaks.count(t)) row.peak_gflops = peaks[t].sgemm_gflops, row.peak_gbps = peaks[t].triad_gbps;
      report.rows.push_back(row);
      char line[256];
      std::snprintf(line, sizeof line,
                    "%s N %lld, %d thread%s: median %.4g s (min %.4g, max %.4g), speedup %.2fx, %.1f GFLOP/s%s, "
                    "peak tensor memory %.0f MB",
                    report.workload.c_str(), static_cast<long long>(N), row.threads, row.threads == 1 ? "" : "s", row.median_s, row.min_s,
                    row.max_s, row.speedup, row.gflops,
                    row.bytes > 0 ? (", " + number(row.gbps) + " GB/s").c_str() : "", row.peak_mb);
      say(line);
    }
  }
  engine::set_num_threads(0);
  return report;
}

namespace {

void write_csv(const ScalingReport& r, const std::string& path) {
  std::ofstream out(path);
  out << "workload,N,threads,median_s,min_s,max_s,speedup,efficiency,gflops,gbps,peak_sgemm_gflops,"
         "peak_triad_gbps,flops_per_rep,bytes_per_rep,peak_tensor_mb\n";
  for (const ScalingRow& row : r.rows)
    out << row.workload << "," << row.seq_len << "," << row.threads << "," << number(row.median_s) << ","
        << number(row.min_s) << "," << number(row.max_s) << "," << number(row.speedup) << ","
        << number(row.efficiency) << "," << number(row.gflops) << "," << (row.bytes > 0 ? number(row.gbps) : "")
        << "," << (row.peak_gflops > 0 ? number(row.peak_gflops) : "") << ","
        << (row.peak_gbps > 0 ? number(row.peak_gbps) : "") << "," << number(row.flops) << ","
        << (row.bytes > 0 ? number(row.bytes) : "") << "," << number(row.peak_mb) << "\n";
  LONGMIX_CHECK(out.good(), "scaling: cannot write " << path);
}

void write_json(const ScalingReport& r, const std::string& path) {
  std::ofstream out(path);
  auto opt = [](double x) { return x > 0 ? number(x) : std::string("null"); };
  out << "{\n  \"machine\": {\"cpu\": " << nn::json_quote(r.cpu) << ", \"cores\": " << r.cores
      << ", \"isa\": " << nn::json_quote(r.isa) << ", \"thread_binding\": " << nn::json_quote(r.binding) << "},\n"
      << "  \"workload\": " << nn::json_quote(r.workload) << ",\n  \"description\": " << nn::json_quote(r.description)
      << ",\n  \"reps\": " << r.reps << ",\n  \"rows\": [";
  for (size_t i = 0; i < r.rows.size(); ++i) {
    const ScalingRow& row = r.rows[i];
    out << (i ? ",\n" : "\n") << "    {\"N\": " << row.seq_len << ", \"threads\": " << row.threads
        << ", \"median_s\": " << number(row.median_s) << ", \"min_s\": " << number(row.min_s)
        << ", \"max_s\": " << number(row.max_s) << ", \"speedup\": " << number(row.speedup)
        << ", \"efficiency\": " << number(row.efficiency) << ", \"gflops\": " << number(row.gflops)
        << ", \"gbps\": " << (row.bytes > 0 ? number(row.gbps) : "null")
        << ", \"peak_sgemm_gflops\": " << opt(row.peak_gflops) << ", \"peak_triad_gbps\": " << opt(row.peak_gbps)
        << ", \"flops_per_rep\": " << number(row.flops) << ", \"bytes_per_rep\": " << opt(row.bytes)
        << ", \"peak_tensor_mb\": " << number(row.peak_mb) << "}";
  }
  out << "\n  ]\n}\n";
  LONGMIX_CHECK(out.good(), "scaling: cannot write " << path);
}

// gnuplot data: one block per N (threads speedup efficiency), then one per thread count
// (N median_s), so the scripts address them by index.
void write_plots(const ScalingReport& r, const std::string& dir, std::vector<int64_t>& lengths,
                 std::vector<int>& threads) {
  for (const ScalingRow& row : r.rows) {
    if (std::find(lengths.begin(), lengths.end(), row.seq_len) == lengths.end()) lengths.push_back(row.seq_len);
    if (std::find(threads.begin(), threads.end(), row.threads) == threads.end()) threads.push_back(row.threads);
  }
  std::sort(threads.begin(), threads.end());
  std::ofstream dat(dir + "/scaling.dat");
  for (int64_t N : lengths) {
    dat << "# N = " << N << ": threads speedup efficiency\n";
    for (const ScalingRow& row : r.rows)
      if (row.seq_len == N) dat << row.threads << " " << number(row.speedup) << " " << number(row.efficiency) << "\n";
    dat << "\n\n";
  }
  for (int t : threads) {
    dat << "# " << t << " threads: N median_s\n";
    for (const ScalingRow& row : r.rows)
      if (row.threads == t) dat << row.seq_len << " " << number(row.median_s) << "\n";
    dat << "\n\n";
  }
  std::string title;  // a double-quoted gnuplot string: "\n" breaks the line
  for (char c : r.workload + ": " + r.description + "\n" + r.cpu + ", kernels " + r.isa)
    title += c == '\n' ? std::string("\\n") : c == '"' || c == '\\' ? std::string("'") : std::string(1, c);
  {
    std::ofstream gp(dir + "/strong_scaling.gp");
    gp << "set terminal pngcairo size 1200,480 noenhanced\nset output '" << dir << "/strong_scaling.png'\n"
       << "set multiplot layout 1,2 title \"" << title << "\"\nset grid\nset xlabel 'threads'\n"
       << "set xrange [" << threads.front() << ":" << threads.back() << "]\nset xtics 1\nset key top left\n"
       << "set ylabel 'speedup over " << threads.front() << " thread(s)'\nplot x / " << threads.front()
       << ".0 with lines dashtype 2 lc 'black' title 'ideal'";
    for (size_t i = 0; i < lengths.size(); ++i)
      gp << ", '" << dir << "/scaling.dat' index " << i << " using 1:2 with linespoints title 'N = " << lengths[i] << "'";
    gp << "\nset ylabel 'parallel efficiency'\nset yrange [0:1.1]\nset key bottom left\nplot 1 with lines dashtype 2 lc 'black' title 'ideal'";
    for (size_t i = 0; i < lengths.size(); ++i)
      gp << ", '" << dir << "/scaling.dat' index " << i << " using 1:3 with linespoints title 'N = " << lengths[i] << "'";
    gp << "\nunset multiplot\n";
  }
  {
    // Reference slopes through the first point of the smallest thread count.
    const ScalingRow* first = nullptr;
    for (const ScalingRow& row : r.rows)
      if (row.threads == threads.front() && (!first || row.seq_len < first->seq_len)) first = &row;
    const double n0 = static_cast<double>(first->seq_len), t0 = first->median_s;
    std::ofstream gp(dir + "/length_scaling.gp");
    gp << "set terminal pngcairo size 800,600 noenhanced\nset output '" << dir << "/length_scaling.png'\n"
       << "set title \"" << title << "\"\nset grid\nset logscale x 2\nset logscale y 10\nset format y '%g'\n"
       << "set xlabel 'sequence length N'\nset ylabel 'seconds per repetition (median)'\nset key top left\n"
       << "n0 = " << number(n0) << "\nt0 = " << number(t0) << "\n"
       << "nlogn(x) = t0 * x * log(x) / (n0 * log(n0))\nquadratic(x) = t0 * (x / n0)**2\n"
       << "set xrange [" << lengths.front() << ":" << lengths.back() << "]\nset samples 100\n"
       << "plot nlogn(x) with lines dashtype 2 lc 'gray40' title 'N log N', quadratic(x) with lines dashtype 3 "
          "lc 'gray40' title 'N^2'";
    for (size_t i = 0; i < threads.size(); ++i)
      gp << ", '" << dir << "/scaling.dat' index " << lengths.size() + i << " using 1:2 with linespoints title '"
         << threads[i] << (threads[i] == 1 ? " thread'" : " threads'");
    gp << "\n";
  }
}

}  // namespace

std::vector<std::string> write_scaling_report(const ScalingReport& report, const std::string& dir) {
  LONGMIX_CHECK(!report.rows.empty(), "scaling: nothing was measured");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  LONGMIX_CHECK(!ec, "scaling: cannot create " << dir << ": " << ec.message());
  write_csv(report, dir + "/scaling.csv");
  write_json(report, dir + "/scaling.json");
  std::vector<int64_t> lengths;
  std::vector<int> threads;
  write_plots(report, dir, lengths, threads);
  // A plot over a single thread count or a single length would be one point: not drawn.
  std::vector<std::string> drawn;
  if (threads.size() > 1 && run_gnuplot(dir + "/strong_scaling.gp", "scaling")) drawn.push_back(dir + "/strong_scaling.png");
  if (lengths.size() > 1 && run_gnuplot(dir + "/length_scaling.gp", "scaling")) drawn.push_back(dir + "/length_scaling.png");
  return drawn;
}

int scaling_main(int argc, const char* const* argv) {
  Flags flags;
  add_scaling_flags(flags);
  flags.parse(argc, argv, 1);
  if (flags.help_requested()) {
    std::cout << "usage: longmix scaling --workload product|mra|attention|train [--threads 1,2] [--seq-len 1024,4096]\n"
                 "                       [--reps 5] [--out DIR] [workload flags]\n\n"
                 "Times the workload at every (N, threads) point, one warm-up then --reps repetitions, and writes\n"
                 "scaling.csv, scaling.json, strong_scaling.png and length_scaling.png to --out.\n"
                 "train times one training step of --model (paramixer by default) on --task (adding) with the\n"
                 "preset shape of `longmix train`, or the step of a preset file: --config configs/paramixer-image.json.\n\n"
              << flags.help_text();
    return 0;
  }
  std::string dir = flags.get_string("out");
  if (dir.empty()) dir = "runs/scaling-" + flags.get_string("workload");
  const ScalingReport report = run_scaling(flags);
  for (const std::string& png : write_scaling_report(report, dir)) std::cout << "wrote " << png << "\n";
  std::cout << "wrote " << dir << "/scaling.csv and " << dir << "/scaling.json\n";
  return 0;
}

}  // namespace apps
