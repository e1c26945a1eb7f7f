// shoal_loadgen: a closed-loop HTTP load generator for `shoal serve` (or any server with the
// same endpoints). C clients each post a file to the given paths in turn (round-robin over the
// paths, each client starting at its own offset) for D seconds, and the tool prints requests,
// errors by status, throughput and latency percentiles. With --watch-budget it also samples
// /v1/status every 100 ms and reports the highest accounted bytes against the budget (exit 1 if
// the budget was ever exceeded). Exit 1 when any request failed.
//
//   shoal_loadgen --url http://127.0.0.1:8000 --path /v1/models/det/detect \
//       --file bus.jpg --type image/jpeg --clients 16 --seconds 30 [--json]
#include <fmt/format.h>
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string url = "http://127.0.0.1:8000";
  std::vector<std::string> paths;
  std::string file, type = "image/jpeg";
  int clients = 16;
  double seconds = 30;
  bool watch_budget = false;
  bool json = false;
};

struct Target {
  std::string host;
  int port = 80;
};

Target parse_url(const std::string& url) {
  std::smatch m;
  static const std::regex re(R"(^http://([^/:]+)(?::(\d+))?/?$)");
  if (!std::regex_match(url, m, re)) {
    throw std::runtime_error("--url must look like http://HOST[:PORT], not '" + url + "'");
  }
  return {m[1], m[2].matched ? std::stoi(m[2]) : 80};
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"closed-loop HTTP load for shoal serve"};
  app.add_option("--url", o.url, "server, http://HOST:PORT");
  app.add_option("--path", o.paths, "endpoint(s) to post to, round-robin")->required();
  app.add_option("--file", o.file, "request body file")->required()->check(CLI::ExistingFile);
  app.add_option("--type", o.type, "Content-Type of the body");
  app.add_option("--clients", o.clients, "concurrent clients")->check(CLI::Range(1, 1024));
  app.add_option("--seconds", o.seconds, "duration")->check(CLI::Range(0.1, 86400.0));
  app.add_flag("--watch-budget", o.watch_budget,
               "sample /v1/status every 100 ms: accounted bytes never above the budget");
  app.add_flag("--json", o.json, "one JSON object");
  CLI11_PARSE(app, argc, argv);

  Target t;
  try {
    t = parse_url(o.url);
  } catch (const std::exception& e) {
    fmt::print(stderr, "shoal_loadgen: {}\n", e.what());
    return 2;
  }
  std::ifstream f(o.file, std::ios::binary);
  const std::string body((std::istreambuf_iterator<char>(f)), {});

  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<double> latencies_ms;
  std::map<int, uint64_t> statuses;  // 0: connection error
  std::string first_error;
  uint64_t samples = 0, max_accounted = 0, budget = 0;
  bool over_budget = false;

  const auto t0 = Clock::now();
  const auto end = t0 + std::chrono::duration<double>(o.seconds);
  std::vector<std::thread> threads;
  for (int c = 0; c < o.clients; ++c) {
    threads.emplace_back([&, c] {
      httplib::Client cli(t.host, t.port);
      cli.set_read_timeout(120, 0);
      cli.set_keep_alive(true);
      std::vector<double> mine;
      std::map<int, uint64_t> my_status;
      std::string my_error;
      for (size_t i = static_cast<size_t>(c); Clock::now() < end; ++i) {
        const std::string& path = o.paths[i % o.paths.size()];
        const auto s = Clock::now();
        auto r = cli.Post(path, body, o.type);
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - s).count();
        const int code = r ? r->status : 0;
        my_status[code]++;
        if (code == 200) {
          mine.push_back(ms);
        } else if (my_error.empty()) {
          my_error = r ? fmt::format("{} {}: {}", path, code, r->body.substr(0, 300))
                       : fmt::format("{}: {}", path, httplib::to_string(r.error()));
        }
      }
      std::lock_guard<std::mutex> lk(mu);
      latencies_ms.insert(latencies_ms.end(), mine.begin(), mine.end());
      for (auto [k, v] : my_status) statuses[k] += v;
      if (first_error.empty()) first_error = my_error;
    });
  }
  std::thread watcher;
  if (o.watch_budget) {
    watcher = std::thread([&] {
      httplib::Client cli(t.host, t.port);
      while (!stop.load()) {
        if (auto r = cli.Get("/v1/status"); r && r->status == 200) {
          auto j = nlohmann::json::parse(r->body, nullptr, false);
          if (j.is_object()) {
            const uint64_t acc = j["memory"]["accounted_bytes"].get<uint64_t>();
            budget = j["memory"]["budget_bytes"].get<uint64_t>();
            max_accounted = std::max(max_accounted, acc);
            over_budget |= acc > budget;
            samples++;
          }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
  }
  for (auto& th : threads) th.join();
  stop = true;
  if (watcher.joinable()) watcher.join();
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();

  uint64_t total = 0, failed = 0;
  for (auto [k, v] : statuses) {
    total += v;
    if (k != 200) failed += v;
  }
  const double rps = static_cast<double>(latencies_ms.size()) / wall;
  std::vector<double> l = latencies_ms;
  const double p50 = percentile(l, 0.50), p90 = percentile(l, 0.90), p99 = percentile(l, 0.99);
  if (o.json) {
    nlohmann::json j{
        {"requests", total},          {"failed", failed}, {"seconds", wall}, {"clients", o.clients},
        {"requests_per_second", rps}, {"p50_ms", p50},    {"p90_ms", p90},   {"p99_ms", p99}};
    nlohmann::json st = nlohmann::json::object();
    for (auto [k, v] : statuses) st[std::to_string(k)] = v;
    j["statuses"] = st;
    if (o.watch_budget) {
      j["budget_bytes"] = budget;
      j["max_accounted_bytes"] = max_accounted;
      j["budget_samples"] = samples;
      j["over_budget"] = over_budget;
    }
    if (!first_error.empty()) j["first_error"] = first_error;
    fmt::print("{}\n", j.dump());
  } else {
    fmt::print("{} clients, {:.1f} s: {} requests, {} failed, {:.1f} req/s\n", o.clients, wall,
               total, failed, rps);
    fmt::print("latency ms: p50 {:.1f}  p90 {:.1f}  p99 {:.1f}\n", p50, p90, p99);
    for (auto [k, v] : statuses)
      fmt::print("  HTTP {:>3}: {}\n", k == 0 ? "err" : std::to_string(k), v);
    if (o.watch_budget) {
      fmt::print(
          "accounted bytes, {} samples every 100 ms: max {:.1f} MiB of a {:.1f} MiB budget{}\n",
          samples, static_cast<double>(max_accounted) / (1 << 20),
          static_cast<double>(budget) / (1 << 20), over_budget ? " (EXCEEDED)" : "");
    }
    if (!first_error.empty()) fmt::print("first error: {}\n", first_error);
  }
  return failed || over_budget ? 1 : 0;
}
