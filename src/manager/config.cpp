#include "manager/config.h"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"
#include "memory/budget.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;

const std::set<std::string> kTopKeys = {"memory_budget", "cache_dir", "models", "pipelines",
                                        "server"};
const std::set<std::string> kServerKeys = {"host",
                                           "port",
                                           "threads",
                                           "max_body_bytes",
                                           "max_image_pixels",
                                           "max_tensor_elements",
                                           "request_timeout",
                                           "read_timeout",
                                           "drain_time",
                                           "admin_token",
                                           "access_log"};
const std::set<std::string> kModelKeys = {
    "name",           "path",         "task",    "family",      "precision",       "pinned",
    "max_batch",      "idle_timeout", "version", "input_shape", "max_concurrency", "queue_depth",
    "max_queue_delay"};
const std::set<std::string> kPipelineKeys = {"name", "models"};

std::string join(const std::set<std::string>& s) {
  std::string r;
  for (const std::string& k : s) r += (r.empty() ? "" : ", ") + k;
  return r;
}

struct Ctx {
  std::string source;
  [[noreturn]] void error(const YAML::Node& n, const std::string& msg) const {
    if (n.IsDefined() && n.Mark().line >= 0) {
      fail(ErrorCode::kInvalidArgument, "{}:{}: {}", source, n.Mark().line + 1, msg);
    }
    fail(ErrorCode::kInvalidArgument, "{}: {}", source, msg);
  }
  std::string scalar(const YAML::Node& n, const std::string& where) const {
    if (!n.IsScalar()) error(n, where + " must be a single value");
    return n.Scalar();
  }
  bool boolean(const YAML::Node& n, const std::string& where) const {
    std::string s = scalar(n, where);
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (s == "true" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "no" || s == "off") return false;
    error(n, where + " must be true or false, not '" + n.Scalar() + "'");
  }
  int64_t integer(const YAML::Node& n, const std::string& where, int64_t lo, int64_t hi) const {
    std::string s = scalar(n, where);
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || end != s.c_str() + s.size() || v < lo || v > hi) {
      error(n, fmt::format("{} must be an integer in [{}, {}], not '{}'", where, lo, hi, s));
    }
    return v;
  }
  void check_keys(const YAML::Node& map, const std::set<std::string>& known,
                  const std::string& where) const {
    for (const auto& kv : map) {
      std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "?";
      if (!known.count(key)) {
        error(kv.first,
              fmt::format("unknown key '{}' in {}; known keys: {}", key, where, join(known)));
      }
    }
  }
};

std::string resolve(const std::string& base_dir, const std::string& p) {
  fs::path path(p);
  if (path.is_absolute() || base_dir.empty()) return path.lexically_normal().string();
  return (fs::path(base_dir) / path).lexically_normal().string();
}

}  // namespace

const ModelConfig* RepositoryConfig::find(const std::string& name) const {
  for (const ModelConfig& m : models) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

std::chrono::milliseconds parse_duration(const std::string& text) {
  std::string s;
  for (char c : text) {
    if (!std::isspace(static_cast<unsigned char>(c)))
      s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (s == "never" || s == "0") return std::chrono::milliseconds(0);
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  std::string num = s.substr(0, i), unit = s.substr(i);
  double mult = unit.empty() || unit == "s"    ? 1000.0
                : unit == "ms"                 ? 1.0
                : unit == "m" || unit == "min" ? 60000.0
                : unit == "h"                  ? 3600000.0
                                               : -1.0;
  char* end = nullptr;
  double v = num.empty() ? -1 : std::strtod(num.c_str(), &end);
  if (mult < 0 || num.empty() || end != num.c_str() + num.size() || !(v >= 0) || v * mult > 1e15) {
    fail(ErrorCode::kInvalidArgument,
         "cannot read '{}' as a duration; write e.g. 30s, 5m, 2h, 1500ms or 0 (never)", text);
  }
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(v * mult)));
}

RepositoryConfig parse_repository_config(const std::string& yaml_text, const std::string& base_dir,
                                         const std::string& source) {
  Ctx ctx{source};
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    fail(ErrorCode::kInvalidArgument, "{}:{}: not valid YAML: {}", source, e.mark.line + 1, e.msg);
  }
  if (!root.IsMap()) ctx.error(root, "the config must be a mapping with memory_budget and models");
  ctx.check_keys(root, kTopKeys, "the config");
  RepositoryConfig cfg;
  cfg.source = source;
  if (!root["memory_budget"]) {
    ctx.error(root, "memory_budget is missing (e.g. memory_budget: 512MiB)");
  }
  try {
    cfg.memory_budget = parse_bytes(ctx.scalar(root["memory_budget"], "memory_budget"));
  } catch (const Error& e) {
    ctx.error(root["memory_budget"], std::string("memory_budget: ") + e.what());
  }
  if (cfg.memory_budget == 0) ctx.error(root["memory_budget"], "memory_budget must be above 0");
  if (root["cache_dir"])
    cfg.cache_dir = resolve(base_dir, ctx.scalar(root["cache_dir"], "cache_dir"));

  YAML::Node models = root["models"];
  if (!models || !models.IsSequence() || models.size() == 0) {
    ctx.error(models ? models : root, "models must be a non-empty list of {name, path} entries");
  }
  std::set<std::string> names;
  for (size_t i = 0; i < models.size(); ++i) {
    const YAML::Node& m = models[i];
    std::string where = fmt::format("models[{}]", i);
    if (!m.IsMap()) ctx.error(m, where + " must be a mapping with name and path");
    if (m["name"]) where = fmt::format("model '{}'", ctx.scalar(m["name"], where + ".name"));
    ctx.check_keys(m, kModelKeys, where);
    ModelConfig mc;
    if (!m["name"]) ctx.error(m, where + " has no name");
    mc.name = ctx.scalar(m["name"], where + ".name");
    bool ok_name = !mc.name.empty() && mc.name.size() <= 128;
    for (char c : mc.name)
      ok_name &= std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
    if (!ok_name) ctx.error(m["name"], where + ": a name is 1-128 characters of A-Z a-z 0-9 _ - .");
    if (!names.insert(mc.name).second) {
      ctx.error(m["name"], fmt::format("duplicate model name '{}': names must be unique", mc.name));
    }
    if (!m["path"]) ctx.error(m, where + " has no path");
    mc.path = resolve(base_dir, ctx.scalar(m["path"], where + ".path"));
    if (m["task"]) mc.task = ctx.scalar(m["task"], where + ".task");
    if (m["family"]) mc.family = ctx.scalar(m["family"], where + ".family");
    if (m["precision"]) {
      mc.precision = ctx.scalar(m["precision"], where + ".precision");
      if (mc.precision != "fp32" && mc.precision != "bf16" && mc.precision != "int8") {
        ctx.error(m["precision"],
                  where + ": precision must be fp32, bf16 or int8, not '" + mc.precision + "'");
      }
    }
    if (m["pinned"]) mc.pinned = ctx.boolean(m["pinned"], where + ".pinned");
    if (m["max_batch"])
      mc.max_batch = static_cast<int>(ctx.integer(m["max_batch"], where + ".max_batch", 1, 1024));
    if (m["idle_timeout"]) {
      try {
        mc.idle_timeout = parse_duration(ctx.scalar(m["idle_timeout"], where + ".idle_timeout"));
      } catch (const Error& e) {
        ctx.error(m["idle_timeout"], where + ".idle_timeout: " + e.what());
      }
    }
    if (m["version"]) mc.version = ctx.scalar(m["version"], where + ".version");
    if (m["input_shape"]) {
      const YAML::Node& s = m["input_shape"];
      if (!s.IsSequence() || s.size() == 0 || s.size() > 8) {
        ctx.error(
            s,
            where + ".input_shape must be a list of 1-8 positive integers, e.g. [1, 3, 640, 640]");
      }
      for (size_t k = 0; k < s.size(); ++k) {
        mc.input_shape.push_back(ctx.integer(s[k], where + ".input_shape", 1, 1 << 20));
      }
    }
    if (m["max_concurrency"]) {
      mc.max_concurrency =
          static_cast<int>(ctx.integer(m["max_concurrency"], where + ".max_concurrency", 1, 64));
    }
    if (m["queue_depth"]) {
      mc.queue_depth =
          static_cast<int>(ctx.integer(m["queue_depth"], where + ".queue_depth", 0, 100000));
    }
    if (m["max_queue_delay"]) {
      try {
        mc.max_queue_delay =
            parse_duration(ctx.scalar(m["max_queue_delay"], where + ".max_queue_delay"));
      } catch (const Error& e) {
        ctx.error(m["max_queue_delay"], where + ".max_queue_delay: " + e.what());
      }
    }
    cfg.models.push_back(std::move(mc));
  }

  if (YAML::Node pipes = root["pipelines"]) {
    if (!pipes.IsSequence()) ctx.error(pipes, "pipelines must be a list of {name, models} entries");
    std::set<std::string> pnames;
    for (size_t i = 0; i < pipes.size(); ++i) {
      const YAML::Node& p = pipes[i];
      std::string where = fmt::format("pipelines[{}]", i);
      if (!p.IsMap()) ctx.error(p, where + " must be a mapping with name and models");
      ctx.check_keys(p, kPipelineKeys, where);
      PipelineConfig pc;
      if (!p["name"]) ctx.error(p, where + " has no name");
      pc.name = ctx.scalar(p["name"], where + ".name");
      where = fmt::format("pipeline '{}'", pc.name);
      if (!pnames.insert(pc.name).second)
        ctx.error(p["name"], "duplicate pipeline name '" + pc.name + "'");
      YAML::Node ms = p["models"];
      if (!ms || !ms.IsSequence() || ms.size() == 0)
        ctx.error(ms ? ms : p, where + ".models must be a non-empty list of model names");
      for (size_t k = 0; k < ms.size(); ++k) {
        std::string n = ctx.scalar(ms[k], where + ".models");
        if (!names.count(n)) {
          ctx.error(ms[k], fmt::format("{} names model '{}', which is not in models", where, n));
        }
        pc.models.push_back(n);
      }
      cfg.pipelines.push_back(std::move(pc));
    }
  }
  if (YAML::Node sv = root["server"]) {
    if (!sv.IsMap()) ctx.error(sv, "server must be a mapping (host, port, limits, ...)");
    ctx.check_keys(sv, kServerKeys, "server");
    ServerConfig& s = cfg.server;
    auto duration = [&](const char* key, std::chrono::milliseconds* out) {
      if (!sv[key]) return;
      try {
        *out = parse_duration(ctx.scalar(sv[key], std::string("server.") + key));
      } catch (const Error& e) {
        ctx.error(sv[key], std::string("server.") + key + ": " + e.what());
      }
    };
    if (sv["host"]) s.host = ctx.scalar(sv["host"], "server.host");
    if (sv["port"]) s.port = static_cast<int>(ctx.integer(sv["port"], "server.port", 0, 65535));
    if (sv["threads"]) {
      s.threads = static_cast<int>(ctx.integer(sv["threads"], "server.threads", 1, 1024));
    }
    if (sv["max_body_bytes"]) {
      try {
        s.max_body_bytes = parse_bytes(ctx.scalar(sv["max_body_bytes"], "server.max_body_bytes"));
      } catch (const Error& e) {
        ctx.error(sv["max_body_bytes"], std::string("server.max_body_bytes: ") + e.what());
      }
    }
    if (sv["max_image_pixels"]) {
      s.max_image_pixels =
          ctx.integer(sv["max_image_pixels"], "server.max_image_pixels", 1, 100'000'000);
    }
    if (sv["max_tensor_elements"]) {
      s.max_tensor_elements =
          ctx.integer(sv["max_tensor_elements"], "server.max_tensor_elements", 1, int64_t{1} << 32);
    }
    duration("request_timeout", &s.request_timeout);
    duration("read_timeout", &s.read_timeout);
    duration("drain_time", &s.drain_time);
    if (sv["admin_token"]) s.admin_token = ctx.scalar(sv["admin_token"], "server.admin_token");
    if (sv["access_log"]) s.access_log = ctx.boolean(sv["access_log"], "server.access_log");
  }
  return cfg;
}

RepositoryConfig load_repository_config(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(ErrorCode::kNotFound, "cannot open config file '{}'", path);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string base = fs::path(path).parent_path().string();
  return parse_repository_config(ss.str(), base, path);
}

}  // namespace shoal
