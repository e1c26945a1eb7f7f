// `shoal serve --config models.yaml [--host H] [--port P] [--threads N]`: the config's models
// over HTTP (server/server.h). Ready once the pinned models are loaded and warmed up; SIGINT or
// SIGTERM stops accepting, lets accepted requests finish within the drain time, unloads and
// exits 0 (1 when requests were still running at the end of the drain time).
#include <fmt/format.h>
#include <pthread.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <optional>

#include "backend/backend.h"
#include "core/error.h"
#include "manager/model_manager.h"
#include "server/server.h"

namespace shoal {
namespace {

struct ServeOptions {
  std::string config, host;
  int port = -1;
  int threads = 0;
  int http_threads = 0;
};

ServeOptions g_opts;
CLI::App* g_cmd = nullptr;

}  // namespace

void register_serve_command(CLI::App& app) {
  g_cmd = app.add_subcommand("serve",
                             "serve the config's models over HTTP (KServe v2, image "
                             "endpoints, metrics, status page)");
  g_cmd->add_option("--config", g_opts.config, "models.yaml")->required();
  g_cmd->add_option("--host", g_opts.host, "address to bind (default: server.host, 127.0.0.1)");
  g_cmd->add_option("--port", g_opts.port, "port (default: server.port, 8000; 0: any free port)")
      ->check(CLI::Range(0, 65535));
  g_cmd->add_option("--threads", g_opts.threads, "compute threads (default: all cores)");
  g_cmd
      ->add_option("--http-threads", g_opts.http_threads,
                   "HTTP connections served at once (default: server.threads, 32)")
      ->check(CLI::Range(1, 1024));
}

std::optional<int> run_serve_command() {
  if (!g_cmd || !*g_cmd) return std::nullopt;
  // Signals go to one thread, which waits for them; every thread started from here on
  // (manager, HTTP workers, OpenMP) inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  RepositoryConfig cfg = load_repository_config(g_opts.config);
  ServerConfig sc = cfg.server;
  if (!g_opts.host.empty()) sc.host = g_opts.host;
  if (g_opts.port >= 0) sc.port = g_opts.port;
  if (g_opts.http_threads > 0) sc.threads = g_opts.http_threads;
  set_compute_threads(g_opts.threads);
  fmt::print(stderr, "loading {} ({} models, budget {:.1f} MiB)...\n", g_opts.config,
             cfg.models.size(), static_cast<double>(cfg.memory_budget) / (1 << 20));
  ModelManager mgr(std::move(cfg));
  server::Server srv(mgr, sc);
  const int port = srv.start();
  // One line a supervisor (or a test) can wait for.
  fmt::print("shoal serve: ready on http://{}:{}/ (status page), KServe v2 at /v2\n", sc.host,
             port);
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  fmt::print(stderr, "{}: draining (up to {:.0f} s)...\n", sig == SIGINT ? "SIGINT" : "SIGTERM",
             std::chrono::duration<double>(sc.drain_time).count());
  const bool drained = srv.shutdown(sc.drain_time);
  if (!drained) {
    fmt::print(stderr, "requests still running after the drain time; exiting anyway\n");
    std::fflush(stderr);
    std::_Exit(1);
  }
  mgr.unload_all();
  fmt::print(stderr, "stopped\n");
  return 0;
}

}  // namespace shoal
