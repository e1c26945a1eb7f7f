#include "server/server.h"

#include <httplib.h>
#include <strings.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <thread>

#include "backend/backend.h"
#include "core/error.h"
#include "server/detect_query.h"
#include "server/kserve.h"
#include "server/stats.h"
#include "server/status_page_html.h"  // generated from status_page.html
#include "service/pipeline.h"
#include "vision/draw.h"
#include "vision/image_io.h"
#include "vision/result_json.h"
#include "vision/warm_up.h"

namespace shoal::server {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

int http_status(ErrorCode c) {
  switch (c) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kUnsupported:
      return 400;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kLimit:
      return 413;
    case ErrorCode::kOutOfMemory:
      return 503;
    default:
      return 500;
  }
}

void send_json(httplib::Response& res, int status, const json& j) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(j.dump(), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& msg) {
  send_json(res, status, json{{"error", msg}});
}

// A full queue: answered 429 with Retry-After.
struct QueueFull {
  std::string message;
};

// An image request that may share a batch with others of the same options (dynamic batching).
struct BatchJob {
  cv::Mat bgr;
  vision::DetectorOptions opt;
  std::string key;  // requests batch together only with the same key (their options)
  Clock::time_point t0;
  double queue_s = 0;
  vision::Result result;
};

// One model's executions: `workers` threads run its requests (a thread that runs models keeps
// its OpenMP team and CPU placement, so HTTP threads never run inference themselves), at most
// `max_waiting` wait in its queue.
class Executor {
 public:
  using BatchRunner = std::function<void(std::vector<BatchJob*>&)>;
  // With max_batch > 1 and a delay, a worker taking a BatchJob waits up to `delay` for more of
  // the same key and runs them together through `runner`.
  Executor(std::string model, int workers, int max_waiting, int max_batch,
           std::chrono::milliseconds delay, BatchRunner runner)
      : model_(std::move(model)),
        max_waiting_(max_waiting),
        max_batch_(max_batch),
        delay_(delay),
        runner_(std::move(runner)) {
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { loop(); });
  }
  ~Executor() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

  // Runs `f` on a worker and returns when it has run (rethrowing what it threw). Throws
  // QueueFull when the queue is full, kOutOfMemory when no worker took it before `deadline`.
  void run(Clock::time_point deadline, std::function<void()> f, BatchJob* job = nullptr) {
    auto task = std::make_shared<Task>();
    task->f = std::move(f);
    task->job = job;
    std::unique_lock<std::mutex> lk(mu_);
    if (static_cast<int>(queue_.size()) >= max_waiting_ && idle_ == 0) {
      throw QueueFull{
          fmt::format("model '{}': {} requests running and {} queued (queue_depth); "
                      "try again shortly",
                      model_, threads_.size() - idle_, queue_.size())};
    }
    queue_.push_back(task);
    cv_.notify_one();
    if (!task->done_cv.wait_until(lk, deadline, [&] { return task->started; })) {
      queue_.erase(std::find(queue_.begin(), queue_.end(), task));
      fail(ErrorCode::kOutOfMemory, "model '{}': no execution slot within the request timeout",
           model_);
    }
    task->done_cv.wait(lk, [&] { return task->done; });
    if (task->error) std::rethrow_exception(task->error);
  }

  int waiting() const {
    std::lock_guard<std::mutex> lk(mu_);
    return static_cast<int>(queue_.size());
  }

 private:
  struct Task {
    std::function<void()> f;
    BatchJob* job = nullptr;
    bool started = false, done = false;
    std::exception_ptr error;
    std::condition_variable done_cv;
  };

  void loop() {
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      idle_++;
      cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
      idle_--;
      if (queue_.empty()) return;  // stopping
      std::shared_ptr<Task> t = queue_.front();
      queue_.pop_front();
      std::vector<std::shared_ptr<Task>> batch = {t};
      t->started = true;
      t->done_cv.notify_all();
      if (t->job && max_batch_ > 1 && delay_.count() > 0) {
        // Dynamic batching: more jobs of the same key, until the batch is full or the delay
        // since this one arrived has passed.
        const auto until = t->job->t0 + delay_;
        auto same_key = [&](const std::shared_ptr<Task>& q) {
          return q->job && q->job->key == t->job->key;
        };
        while (static_cast<int>(batch.size()) < max_batch_) {
          auto it = std::find_if(queue_.begin(), queue_.end(), same_key);
          if (it != queue_.end()) {
            (*it)->started = true;
            (*it)->done_cv.notify_all();
            batch.push_back(*it);
            queue_.erase(it);
            continue;
          }
          if (cv_.wait_until(lk, until) == std::cv_status::timeout &&
              std::none_of(queue_.begin(), queue_.end(), same_key)) {
            break;
          }
        }
      }
      lk.unlock();
      try {
        if (t->job) {
          std::vector<BatchJob*> jobs;
          for (const auto& b : batch) {
            b->job->queue_s = seconds_since(b->job->t0);
            jobs.push_back(b->job);
          }
          runner_(jobs);
        } else {
          t->f();
        }
      } catch (...) {
        for (const auto& b : batch) b->error = std::current_exception();
      }
      lk.lock();
      for (const auto& b : batch) {
        b->done = true;
        b->done_cv.notify_all();
      }
    }
  }

  const std::string model_;
  const int max_waiting_;
  const int max_batch_;
  const std::chrono::milliseconds delay_;
  const BatchRunner runner_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Task>> queue_;
  int idle_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// A model's version as the protocol shows it: its config label, else "1".
std::string served_version(const std::string& label) { return label.empty() ? "1" : label; }

// Runs `f`, answering a shoal::Error with its status and message.
template <typename F>
void answer_errors(httplib::Response& res, F&& f) {
  try {
    f();
  } catch (const Error& e) {
    send_error(res, http_status(e.code()), e.what());
  }
}

const char* page_state(const ModelStatus& s) {
  switch (s.state) {
    case ModelState::kReady:
      return "resident";
    case ModelState::kLoading:
      return "loading";
    case ModelState::kFailed:
      return "failed";
    case ModelState::kUnloading:
      return "evicted";
    case ModelState::kRegistered:
      return s.loads > 0 ? "evicted" : "registered";
  }
  return "registered";
}

std::string escape_label(const std::string& v) {
  std::string r;
  for (char c : v) {
    if (c == '\\' || c == '"') r += '\\';
    if (c == '\n') {
      r += "\\n";
      continue;
    }
    r += c;
  }
  return r;
}

// Parses a query parameter as a number in [lo, hi]; kInvalidArgument naming it otherwise.
double number_param(const httplib::Request& req, const char* key, double lo, double hi,
                    double fallback) {
  if (!req.has_param(key)) return fallback;
  const std::string v = req.get_param_value(key);
  char* end = nullptr;
  const double d = std::strtod(v.c_str(), &end);
  if (v.empty() || end != v.c_str() + v.size() || !(d >= lo && d <= hi)) {
    fail(ErrorCode::kInvalidArgument, "query parameter {}='{}': expected a number in [{}, {}]", key,
         v, lo, hi);
  }
  return d;
}

}  // namespace

vision::DetectorOptions parse_detect_query(const httplib::Request& req) {
  vision::DetectorOptions opt;
  opt.conf = static_cast<float>(number_param(req, "conf", 0, 1, 0.25));
  if (req.has_param("iou")) opt.iou = static_cast<float>(number_param(req, "iou", 0, 1, 0.7));
  opt.max_det = static_cast<int>(number_param(req, "max_det", 1, 30000, 300));
  if (req.has_param("classes")) {
    const std::string v = req.get_param_value("classes");
    size_t pos = 0;
    while (pos <= v.size()) {
      size_t comma = v.find(',', pos);
      if (comma == std::string::npos) comma = v.size();
      const std::string item = v.substr(pos, comma - pos);
      char* end = nullptr;
      const long id = std::strtol(item.c_str(), &end, 10);
      if (item.empty() || end != item.c_str() + item.size() || id < 0 || id > 100000) {
        fail(ErrorCode::kInvalidArgument,
             "query parameter classes='{}': expected class ids such as 0,2,5", v);
      }
      opt.classes.push_back(static_cast<int>(id));
      pos = comma + 1;
    }
  }
  return opt;
}

struct Server::Impl {
  ModelManager& mgr;
  ServerConfig cfg;
  httplib::Server http;
  std::thread listener;
  std::atomic<bool> started{false}, draining{false};
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stopped = false;  // guarded by stop_mu
  std::thread stopper;
  Clock::time_point start_time = Clock::now();
  std::map<std::string, std::unique_ptr<Executor>> executors;
  std::map<std::string, std::unique_ptr<ModelStats>> stats;

  Impl(ModelManager& m, ServerConfig c) : mgr(m), cfg(std::move(c)) {
    for (const ModelConfig& mc : mgr.config().models) {
      const std::string name = mc.name;
      executors[mc.name] = std::make_unique<Executor>(
          mc.name, mc.max_concurrency, mc.queue_depth, mc.max_batch, mc.max_queue_delay,
          [this, name](std::vector<BatchJob*>& jobs) { run_detect_batch(name, jobs); });
      stats[mc.name] = std::make_unique<ModelStats>();
    }
  }

  bool loopback() const {
    return cfg.host == "127.0.0.1" || cfg.host == "localhost" || cfg.host == "::1";
  }

  const ModelConfig& model_or_404(const std::string& name, const std::string& version) {
    const ModelConfig* mc = mgr.config().find(name);
    if (!mc) fail(ErrorCode::kNotFound, "no model named '{}' in the config", name);
    const std::string have = served_version(mc->version);
    if (!version.empty() && version != have) {
      fail(ErrorCode::kNotFound, "model '{}' has no version '{}' (it serves version {})", name,
           version, have);
    }
    return *mc;
  }

  // Runs `body` for a request on one of `model`'s workers: queueing, timing, statistics, error
  // mapping. `body` gets the seconds the request waited in the queue.
  // With `job`, the worker runs the job (batched with others) and `body` then runs here.
  template <typename F>
  void with_model(const std::string& model, httplib::Response& res, F&& body,
                  BatchJob* job = nullptr) {
    const auto t0 = Clock::now();
    ModelStats& st = *stats.at(model);
    double queue_s = 0;
    bool ok = false;
    try {
      if (mgr.state(model) != ModelState::kReady) st.lazy_load_wait();
      if (job) {
        job->t0 = t0;
        executors.at(model)->run(t0 + cfg.request_timeout, nullptr, job);
        queue_s = job->queue_s;
        body(queue_s);
      } else {
        executors.at(model)->run(t0 + cfg.request_timeout, [&] {
          queue_s = seconds_since(t0);
          body(queue_s);
        });
      }
      ok = res.status < 400;
    } catch (const QueueFull& q) {
      st.rejected();
      res.set_header("Retry-After", "1");
      send_error(res, 429, q.message);
      return;
    } catch (const Error& e) {
      send_error(res, http_status(e.code()), e.what());
    } catch (const std::exception& e) {
      send_error(res, 500, std::string("internal error: ") + e.what());
    }
    const double total = seconds_since(t0);
    st.request_done(ok, queue_s, std::max(0.0, total - queue_s), total);
  }

  void run_detect_batch(const std::string& model, std::vector<BatchJob*>& jobs);
  void setup();
  json status_json();
  std::string metrics_text();
  void infer(const httplib::Request& req, httplib::Response& res, const std::string& model,
             const std::string& version);
  void model_metadata(httplib::Response& res, const std::string& model, const std::string& version);
  void detect(const httplib::Request& req, httplib::Response& res, const std::string& target,
              bool pipeline);
  json model_stats_json(const std::string& name);
  bool authorized(const httplib::Request& req, httplib::Response& res);
};

bool Server::Impl::authorized(const httplib::Request& req, httplib::Response& res) {
  if (cfg.admin_token.empty()) {
    if (loopback()) return true;
    send_error(res, 403,
               "repository load/unload is refused on a non-loopback address without an "
               "admin_token (set server.admin_token in the config)");
    return false;
  }
  if (req.get_header_value("Authorization") == "Bearer " + cfg.admin_token) return true;
  res.set_header("WWW-Authenticate", "Bearer");
  send_error(res, 401, "this endpoint needs the header 'Authorization: Bearer <admin_token>'");
  return false;
}

void Server::Impl::model_metadata(httplib::Response& res, const std::string& model,
                                  const std::string& version) {
  answer_errors(res, [&] {
    const ModelConfig& mc = model_or_404(model, version);
    ModelManager::Lease lease = mgr.acquire(model);
    auto tensors = [](const std::vector<TensorInfo>& ts) {
      json a = json::array();
      for (const TensorInfo& t : ts) {
        a.push_back({{"name", t.name}, {"datatype", datatype_name(t.dtype)}, {"shape", t.dims}});
      }
      return a;
    };
    send_json(res, 200,
              json{{"name", model},
                   {"versions", json::array({served_version(mc.version)})},
                   {"platform", "onnx"},
                   {"inputs", tensors(lease.model().inputs())},
                   {"outputs", tensors(lease.model().outputs())}});
  });
}

void Server::Impl::infer(const httplib::Request& req, httplib::Response& res,
                         const std::string& model, const std::string& version) {
  const ModelConfig* mc = nullptr;
  InferRequest r;
  try {
    mc = &model_or_404(model, version);
    std::optional<size_t> json_length;
    if (req.has_header("Inference-Header-Content-Length")) {
      const std::string v = req.get_header_value("Inference-Header-Content-Length");
      char* end = nullptr;
      const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
      if (v.empty() || end != v.c_str() + v.size()) {
        fail(ErrorCode::kInvalidArgument, "Inference-Header-Content-Length '{}' is not a number",
             v);
      }
      json_length = static_cast<size_t>(n);
    }
    r = parse_infer_request(req.body, json_length, cfg.max_tensor_elements);
  } catch (const Error& e) {
    send_error(res, http_status(e.code()), e.what());
    return;
  }
  with_model(model, res, [&](double) {
    std::map<std::string, Dims> dims;
    for (const InferInput& in : r.inputs) dims[in.name] = in.tensor.dims();
    ModelManager::Lease lease = mgr.acquire(model, dims);
    const std::vector<TensorInfo>& want = lease.model().inputs();
    std::vector<Tensor> inputs;
    for (const TensorInfo& t : want) {
      const InferInput* got = nullptr;
      for (const InferInput& in : r.inputs) {
        if (in.name == t.name) got = &in;
      }
      if (!got) fail(ErrorCode::kInvalidArgument, "model '{}' needs input '{}'", model, t.name);
      if (got->tensor.dtype() != t.dtype) {
        fail(ErrorCode::kInvalidArgument, "input '{}' of model '{}' is {}, not {}", t.name, model,
             datatype_name(t.dtype), datatype_name(got->tensor.dtype()));
      }
      if (got->tensor.dims() != t.dims) {
        fail(ErrorCode::kInvalidArgument, "input '{}' of model '{}' has shape {}, not {}", t.name,
             model, dims_str(t.dims), dims_str(got->tensor.dims()));
      }
      inputs.push_back(got->tensor);
    }
    for (const InferInput& in : r.inputs) {
      bool known = false;
      for (const TensorInfo& t : want) known |= t.name == in.name;
      if (!known) fail(ErrorCode::kInvalidArgument, "model '{}' has no input '{}'", model, in.name);
    }
    std::vector<Tensor> outs = lease.run(inputs);
    std::vector<std::pair<std::string, Tensor>> named;
    for (size_t i = 0; i < outs.size(); ++i) {
      named.emplace_back(lease.model().outputs()[i].name, std::move(outs[i]));
    }
    InferResponse resp = make_infer_response(model, served_version(mc->version), r, named);
    res.status = 200;
    if (resp.json_length) {
      res.set_header("Inference-Header-Content-Length", std::to_string(*resp.json_length));
      res.set_content(std::move(resp.body), "application/octet-stream");
    } else {
      res.set_content(std::move(resp.body), "application/json");
    }
  });
}

namespace {

// The image bytes of a detect request: the raw body, or the first file of a multipart form
// (field "image" preferred).
std::string_view image_bytes(const httplib::Request& req) {
  if (req.is_multipart_form_data()) {
    auto it = req.files.find("image");
    if (it != req.files.end()) return it->second.content;  // (get_file_value returns a copy)
    if (req.files.empty()) {
      fail(ErrorCode::kInvalidArgument,
           "the multipart form has no file; send the image as a "
           "field named 'image'");
    }
    return req.files.begin()->second.content;
  }
  return req.body;
}

bool wants_jpeg(const httplib::Request& req) {
  return req.get_header_value("Accept").find("image/jpeg") != std::string::npos;
}

void send_jpeg(httplib::Response& res, const cv::Mat& img) {
  std::vector<uint8_t> buf;
  cv::imencode(".jpg", img, buf, {cv::IMWRITE_JPEG_QUALITY, 90});
  res.status = 200;
  res.set_content(std::string(buf.begin(), buf.end()), "image/jpeg");
}

}  // namespace

void Server::Impl::detect(const httplib::Request& req, httplib::Response& res,
                          const std::string& target, bool pipeline) {
  const auto t0 = Clock::now();
  vision::DetectorOptions opt;
  cv::Mat bgr;
  double decode_ms = 0;
  try {
    if (pipeline) {
      service::find_pipeline(mgr.config(), target);
    } else {
      model_or_404(target, "");
    }
    opt = parse_detect_query(req);
    const std::string_view bytes = image_bytes(req);
    if (bytes.empty()) {
      fail(ErrorCode::kInvalidArgument,
           "the request has no image: send JPEG, PNG or BMP bytes "
           "as the body or as a multipart field 'image'");
    }
    const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
    vision::probe_image(data, bytes.size(), "the request's image", cfg.max_image_pixels);
    // Decoding, like the model, runs on a compute lane: on a machine whose CPUs all belong to
    // the lane's team, a decode on another thread would preempt a team thread mid-region while
    // the others spin at its barrier (16 clients: 0.85 of `shoal bench`'s images/s, 0.90 so).
    run_on_compute_lane([&] {
      const auto td = Clock::now();
      bgr = vision::decode_image(data, bytes.size(), "the request's image");
      decode_ms = seconds_since(td) * 1e3;
    });
  } catch (const Error& e) {
    send_error(res, http_status(e.code()), e.what());
    return;
  }
  auto timings = [&](double queue_s, const vision::Result* r) {
    json t{{"queue_ms", queue_s * 1e3}, {"decode_ms", decode_ms}};
    if (r) {
      t["preprocess_ms"] = r->preprocess_ms;
      t["inference_ms"] = r->inference_ms;
      t["postprocess_ms"] = r->postprocess_ms;
    }
    t["total_ms"] = seconds_since(t0) * 1e3;
    return t;
  };
  if (!pipeline) {
    // The model's worker runs the image, with others that arrive within max_queue_delay when the
    // model batches (Executor); the answer is built here.
    BatchJob job;
    job.bgr = bgr;
    job.opt = opt;
    job.key = fmt::format("{}/{}/{}/{}", opt.conf, opt.iou.value_or(-1), opt.max_det,
                          fmt::join(opt.classes, ","));
    with_model(
        target, res,
        [&](double queue_s) {
          vision::Result& r = job.result;
          r.decode_ms = decode_ms;
          r.image = "request";
          if (wants_jpeg(req)) return send_jpeg(res, vision::annotate(bgr, r));
          json j = vision::result_to_json(r);
          j["model"] = target;
          j["timings"] = timings(queue_s, &r);
          send_json(res, 200, j);
        },
        &job);
    return;
  }
  try {
    service::PipelineRun run = service::run_pipeline(mgr, target, bgr, opt);
    for (service::PipelineOutput& o : run.outputs) {
      // Each model's part of the pipeline counts as a request to it (no queue: a pipeline runs
      // its models in turn on the request's thread).
      const double s =
          (o.result.preprocess_ms + o.result.inference_ms + o.result.postprocess_ms) / 1e3;
      stats.at(o.model)->request_done(true, 0, s, s);
    }
    if (wants_jpeg(req)) {
      std::vector<const vision::Result*> results;
      for (const service::PipelineOutput& o : run.outputs) results.push_back(&o.result);
      return send_jpeg(res, vision::annotate(bgr, results));
    }
    json models = json::object();
    for (const service::PipelineOutput& o : run.outputs) {
      json m = vision::result_to_json(o.result);
      m["timings"] = {{"preprocess_ms", o.result.preprocess_ms},
                      {"inference_ms", o.result.inference_ms},
                      {"postprocess_ms", o.result.postprocess_ms}};
      models[o.model] = std::move(m);
    }
    send_json(res, 200,
              json{{"pipeline", target},
                   {"width", bgr.cols},
                   {"height", bgr.rows},
                   {"letterboxes", run.preprocessed},
                   {"models", std::move(models)},
                   {"timings", timings(0, nullptr)}});
  } catch (const Error& e) {
    send_error(res, http_status(e.code()), e.what());
  }
}

void Server::Impl::run_detect_batch(const std::string& model, std::vector<BatchJob*>& jobs) {
  const ModelConfig* mc = mgr.config().find(model);
  vision::DetectorOptions o = jobs[0]->opt;
  if (!mc->task.empty()) o.hints.task = mc->task;
  if (!mc->family.empty()) o.hints.family = mc->family;
  // The detector's arena may have to wait for other models' requests to end (their arenas back
  // in the pool, their models idle and evictable): with_memory retries within the budget.
  auto detector = [&](const ModelManager::Lease& lease) {
    std::unique_ptr<vision::Detector> det;
    mgr.with_memory([&] {
      det = std::make_unique<vision::Detector>(lease.plan(), lease.metadata(), mgr.arenas(), o);
    });
    return det;
  };
  auto run_one = [&](BatchJob* j) {
    ModelManager::Lease lease = mgr.acquire(model);
    std::unique_ptr<vision::Detector> det = detector(lease);
    run_on_compute_lane([&] { j->result = det->detect(j->bgr); });
  };
  if (jobs.size() == 1) return run_one(jobs[0]);
  std::map<std::string, Dims> dims;
  {
    ModelManager::Lease first = mgr.acquire(model);
    const TensorInfo& in = first.model().inputs().at(0);
    Dims d = in.dims;
    d[0] = static_cast<int64_t>(jobs.size());
    dims[in.name] = d;
  }
  ModelManager::Lease lease;
  try {
    lease = mgr.acquire(model, dims);
  } catch (const Error&) {  // a model without a dynamic batch dim: one image at a time
    for (BatchJob* j : jobs) run_one(j);
    return;
  }
  std::unique_ptr<vision::Detector> det = detector(lease);
  std::vector<cv::Mat> images;
  for (BatchJob* j : jobs) images.push_back(j->bgr);
  std::vector<vision::Result> rs;
  run_on_compute_lane([&] { rs = det->detect(images); });
  for (size_t i = 0; i < jobs.size(); ++i) jobs[i]->result = std::move(rs[i]);
}

json Server::Impl::model_stats_json(const std::string& name) {
  const ModelConfig& mc = *mgr.config().find(name);
  const ModelStatsSnapshot s = stats.at(name)->snapshot();
  const ModelStatus ms = mgr.status(name);
  auto dur = [](uint64_t count, double ns) {
    return json{{"count", count}, {"ns", static_cast<uint64_t>(ns)}};
  };
  return json{
      {"name", name},
      {"version", served_version(mc.version)},
      {"last_inference", s.last_inference_ms},
      {"inference_count", s.successes},
      {"execution_count", s.successes},
      {"inference_stats",
       {{"success", dur(s.successes, s.success_ns)},
        {"fail", dur(s.failures, s.fail_ns)},
        {"queue", dur(s.successes + s.failures, s.queue_ns)},
        {"compute_infer", dur(s.successes + s.failures, s.compute_ns)}}},
      {"rejected_count", s.rejected},
      {"memory",
       {{"state", model_state_name(ms.state)},
        {"weights_bytes", ms.weights_bytes},
        {"unique_weights_bytes", ms.unique_bytes},
        {"shared_weights_bytes", ms.shared_bytes},
        {"program_bytes", ms.model_bytes},
        {"arena_bytes", ms.arena_bytes},
        {"accounted_bytes", ms.unique_bytes + ms.shared_bytes + ms.model_bytes + ms.arena_bytes}}}};
}

json Server::Impl::status_json() {
  const ManagerMemory mem = mgr.memory();
  const std::vector<ModelStatus> sts = mgr.statuses();
  std::vector<uint64_t> ticks;
  for (const ModelStatus& s : sts) {
    if (s.state == ModelState::kReady) ticks.push_back(s.lru_tick);
  }
  std::sort(ticks.rbegin(), ticks.rend());
  json models = json::array();
  for (const ModelStatus& s : sts) {
    const ModelStatsSnapshot st = stats.at(s.name)->snapshot();
    json rank = nullptr;
    if (s.state == ModelState::kReady) {
      rank = std::find(ticks.begin(), ticks.end(), s.lru_tick) - ticks.begin() + 1;
    }
    models.push_back({{"name", s.name},
                      {"version", served_version(s.version)},
                      {"state", page_state(s)},
                      {"pinned", s.pinned},
                      {"in_use", s.leases},
                      {"lru_rank", rank},
                      {"weights_bytes", s.weights_bytes},
                      {"unique_bytes", s.unique_bytes},
                      {"shared_bytes", s.shared_bytes},
                      {"program_bytes", s.model_bytes},
                      {"arena_bytes", s.arena_bytes},
                      {"requests_total", st.requests},
                      {"failures_total", st.failures},
                      {"rate_per_second", st.rate_per_second},
                      {"p50_ms", st.p50_ms < 0 ? json(nullptr) : json(st.p50_ms)},
                      {"p99_ms", st.p99_ms < 0 ? json(nullptr) : json(st.p99_ms)},
                      {"loads", s.loads},
                      {"evictions", s.evictions},
                      {"reason", s.reason}});
  }
  json pipelines = json::array();
  for (const PipelineConfig& p : mgr.config().pipelines) {
    pipelines.push_back({{"name", p.name}, {"models", p.models}});
  }
  json events = json::array();
  for (const ManagerEvent& e : mgr.events()) {
    const std::time_t t = std::chrono::system_clock::to_time_t(e.time);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    events.push_back({{"time", buf}, {"kind", e.kind}, {"model", e.model}, {"detail", e.detail}});
  }
  return json{{"server",
               {{"name", "shoal"},
                {"version", SHOAL_VERSION},
                {"uptime_seconds", seconds_since(start_time)},
                {"ready", started.load() && !draining.load()}}},
              {"memory",
               {{"budget_bytes", mem.budget},
                {"accounted_bytes", mem.accounted},
                {"peak_accounted_bytes", mem.peak_accounted},
                {"weights_bytes", mem.weights},
                {"program_bytes", mem.models},
                {"arena_bytes", mem.arenas},
                {"reserved_bytes", mem.reserved},
                {"shared_saved_bytes", mem.dedup_saved_bytes},
                {"process_rss_bytes", process_rss_bytes()}}},
              {"models", std::move(models)},
              {"pipelines", std::move(pipelines)},
              {"events", std::move(events)}};
}

std::string Server::Impl::metrics_text() {
  std::string out;
  auto family = [&](const char* name, const char* type, const char* help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  const std::vector<ModelStatus> sts = mgr.statuses();
  std::map<std::string, ModelStatsSnapshot> snaps;
  for (const ModelStatus& s : sts) snaps[s.name] = stats.at(s.name)->snapshot();
  auto per_model = [&](const char* name, const char* type, const char* help, auto value) {
    family(name, type, help);
    for (const ModelStatus& s : sts) {
      out += fmt::format("{}{{model=\"{}\"}} {}\n", name, escape_label(s.name),
                         value(s, snaps[s.name]));
    }
  };
  using S = const ModelStatus&;
  using T = const ModelStatsSnapshot&;
  per_model("shoal_requests_total", "counter", "Requests received per model.",
            [](S, T t) { return t.requests; });
  per_model("shoal_request_success_total", "counter", "Requests answered successfully.",
            [](S, T t) { return t.successes; });
  per_model("shoal_request_failure_total", "counter", "Requests that failed (4xx/5xx, not 429).",
            [](S, T t) { return t.failures; });
  per_model("shoal_request_rejected_total", "counter", "Requests refused with 429 (queue full).",
            [](S, T t) { return t.rejected; });
  per_model("shoal_lazy_load_waits_total", "counter",
            "Requests that found their model not loaded and waited for the load.",
            [](S, T t) { return t.lazy_load_waits; });
  auto histogram = [&](const char* name, const char* help, const Histogram ModelStatsSnapshot::*h) {
    family(name, "histogram", help);
    for (const ModelStatus& s : sts) {
      const Histogram& hist = snaps[s.name].*h;
      uint64_t cum = 0;
      for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
        cum += hist.counts[i];
        out += fmt::format("{}_bucket{{model=\"{}\",le=\"{}\"}} {}\n", name, escape_label(s.name),
                           kLatencyBuckets[i], cum);
      }
      out += fmt::format("{}_bucket{{model=\"{}\",le=\"+Inf\"}} {}\n", name, escape_label(s.name),
                         hist.count);
      out += fmt::format("{}_sum{{model=\"{}\"}} {}\n", name, escape_label(s.name), hist.sum);
      out += fmt::format("{}_count{{model=\"{}\"}} {}\n", name, escape_label(s.name), hist.count);
    }
  };
  histogram("shoal_request_queue_seconds", "Time waiting for an execution slot.",
            &ModelStatsSnapshot::queue);
  histogram("shoal_request_compute_seconds",
            "Time from the slot to the answer (lazy load, pre-processing, inference, encoding).",
            &ModelStatsSnapshot::compute);
  histogram("shoal_request_duration_seconds", "End-to-end request time in the server.",
            &ModelStatsSnapshot::total);
  per_model("shoal_model_loads_total", "counter", "Completed loads, reloads included.",
            [](S s, T) { return s.loads; });
  per_model("shoal_model_evictions_total", "counter",
            "Unloads to make room for another model (LRU).", [](S s, T) { return s.evictions; });
  per_model("shoal_model_unloads_total", "counter", "Unloads on request or after the idle timeout.",
            [](S s, T) { return s.unloads; });
  per_model("shoal_model_last_load_seconds", "gauge", "Duration of the model's last load.",
            [](S s, T) { return s.load_ms / 1e3; });
  per_model("shoal_model_loaded", "gauge", "1 when the model is loaded.",
            [](S s, T) { return s.state == ModelState::kReady ? 1 : 0; });
  per_model("shoal_model_in_use", "gauge", "Requests holding the model now.",
            [](S s, T) { return s.leases; });
  per_model("shoal_model_weights_bytes", "gauge",
            "Weight bytes the model uses (shared blobs counted in full).",
            [](S s, T) { return s.weights_bytes; });
  per_model("shoal_model_unique_weights_bytes", "gauge", "Weight bytes no other loaded model uses.",
            [](S s, T) { return s.unique_bytes; });
  per_model("shoal_model_shared_weights_bytes", "gauge",
            "Weight bytes also used by another loaded model (held once).",
            [](S s, T) { return s.shared_bytes; });
  per_model("shoal_model_program_bytes", "gauge", "The model's own program memory.",
            [](S s, T) { return s.model_bytes; });
  per_model("shoal_model_arena_bytes", "gauge", "The model's largest planned activation arena.",
            [](S s, T) { return s.arena_bytes; });
  const ManagerMemory mem = mgr.memory();
  auto gauge = [&](const char* name, const char* help, double v) {
    family(name, "gauge", help);
    out += fmt::format("{} {}\n", name, v);
  };
  gauge("shoal_memory_budget_bytes", "The memory budget.", static_cast<double>(mem.budget));
  gauge("shoal_memory_accounted_bytes", "Bytes charged to the budget now.",
        static_cast<double>(mem.accounted));
  gauge("shoal_memory_peak_accounted_bytes", "Highest accounted bytes since start.",
        static_cast<double>(mem.peak_accounted));
  gauge("shoal_memory_weights_bytes", "Weight bytes held (each shared blob once).",
        static_cast<double>(mem.weights));
  gauge("shoal_memory_arena_bytes", "Activation arena bytes held by the pool.",
        static_cast<double>(mem.arenas));
  gauge("shoal_memory_program_bytes", "Program bytes of the loaded models.",
        static_cast<double>(mem.models));
  gauge("shoal_memory_shared_saved_bytes",
        "Weight bytes interned again by a load but held once (since start).",
        static_cast<double>(mem.dedup_saved_bytes));
  gauge("shoal_process_resident_memory_bytes", "Resident set size of the process.",
        static_cast<double>(process_rss_bytes()));
  gauge("shoal_process_anonymous_memory_bytes", "Resident anonymous memory of the process.",
        static_cast<double>(current_rss_bytes()));
  return out;
}

void Server::Impl::setup() {
  const std::string name = "([A-Za-z0-9_.-]+)";
  http.new_task_queue = [n = cfg.threads] {
    return new httplib::ThreadPool(static_cast<size_t>(n));
  };
  http.set_payload_max_length(cfg.max_body_bytes);
  const auto rt = std::chrono::duration_cast<std::chrono::microseconds>(cfg.read_timeout).count();
  http.set_read_timeout(rt / 1000000, rt % 1000000);
  http.set_write_timeout(rt / 1000000, rt % 1000000);
  http.set_keep_alive_timeout(5);
  // Refused before the body is read: too large by its Content-Length, or while draining.
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    // curl's --data-binary and -d label bodies application/x-www-form-urlencoded, which
    // cpp-httplib would parse into query parameters and refuse (413) past 8 KiB. No endpoint
    // here takes a form: such a body is read as the bytes it is. (The request is httplib's own
    // non-const object; the handler is only given a const view of it.)
    // Likewise `curl -X POST URL` sends a POST with no body and no Content-Length, which
    // cpp-httplib refuses (400); the repository's load and unload take no body.
    auto& headers = const_cast<httplib::Headers&>(req.headers);
    for (auto& [key, value] : headers) {
      if (strcasecmp(key.c_str(), "Content-Type") == 0 &&
          value.rfind("application/x-www-form-urlencoded", 0) == 0) {
        value = "application/octet-stream";
      }
    }
    if (req.method == "POST" && !req.has_header("Content-Length") &&
        !req.has_header("Transfer-Encoding")) {
      headers.emplace("Content-Length", "0");
    }
    const std::string len = req.get_header_value("Content-Length");
    if (!len.empty()) {
      char* end = nullptr;
      const unsigned long long n = std::strtoull(len.c_str(), &end, 10);
      if (end != len.c_str() + len.size() || n > cfg.max_body_bytes) {
        res.set_header("Connection", "close");
        send_error(res, 413,
                   fmt::format("the body is {} bytes; this server takes at most {} "
                               "(server.max_body_bytes)",
                               len, cfg.max_body_bytes));
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    if (cfg.access_log) {
      fmt::print(stderr, "{} {} {} {}\n", req.remote_addr, req.method, req.path, res.status);
    }
  });
  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string msg = "internal error";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          msg += std::string(": ") + e.what();
        } catch (...) {
        }
        send_error(res, 500, msg);
      });
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404) {
      send_error(res, 404, fmt::format("no endpoint {} {}", req.method, req.path));
    } else if (res.status == 400) {
      send_error(res, 400,
                 "the request could not be read: malformed HTTP, a POST without Content-Length, "
                 "or a body not sent within the read timeout");
    } else if (res.status == 413) {
      send_error(res, 413, "the request body is larger than server.max_body_bytes");
    } else {
      send_error(res, res.status, fmt::format("HTTP error {}", res.status));
    }
  });

  http.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    res.set_content(
        std::string(reinterpret_cast<const char*>(kStatusPageHtml), kStatusPageHtmlSize),
        "text/html; charset=utf-8");
  });
  http.Get("/v1/status", [this](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, status_json());
  });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_text(), "text/plain; version=0.0.4; charset=utf-8");
  });
  http.Get("/v2", [](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200,
              json{{"name", "shoal"},
                   {"version", SHOAL_VERSION},
                   {"extensions", {"binary_tensor_data", "model_repository", "statistics"}}});
  });
  http.Get("/v2/health/live",
           [](const httplib::Request&, httplib::Response& res) { res.status = 200; });
  http.Get("/v2/health/ready", [this](const httplib::Request&, httplib::Response& res) {
    res.status = started.load() && !draining.load() ? 200 : 503;
  });
  auto model_ready = [this](const httplib::Request& req, httplib::Response& res) {
    answer_errors(res, [&] {
      model_or_404(req.matches[1], req.matches.size() > 2 ? std::string(req.matches[2]) : "");
      res.status = mgr.state(req.matches[1]) == ModelState::kReady ? 200 : 400;
    });
  };
  http.Get("/v2/models/" + name + "/ready", model_ready);
  http.Get("/v2/models/" + name + "/versions/" + name + "/ready", model_ready);
  http.Get("/v2/models/" + name, [this](const httplib::Request& req, httplib::Response& res) {
    model_metadata(res, req.matches[1], "");
  });
  http.Get("/v2/models/" + name + "/versions/" + name,
           [this](const httplib::Request& req, httplib::Response& res) {
             model_metadata(res, req.matches[1], req.matches[2]);
           });
  http.Post("/v2/models/" + name + "/infer",
            [this](const httplib::Request& req, httplib::Response& res) {
              infer(req, res, req.matches[1], "");
            });
  http.Post("/v2/models/" + name + "/versions/" + name + "/infer",
            [this](const httplib::Request& req, httplib::Response& res) {
              infer(req, res, req.matches[1], req.matches[2]);
            });
  // Triton's statistics extension (plus each model's memory).
  auto stats_handler = [this](const httplib::Request& req, httplib::Response& res) {
    answer_errors(res, [&] {
      json all = json::array();
      if (req.matches.size() > 1) {
        model_or_404(req.matches[1], req.matches.size() > 2 ? std::string(req.matches[2]) : "");
        all.push_back(model_stats_json(req.matches[1]));
      } else {
        for (const ModelConfig& mc : mgr.config().models) all.push_back(model_stats_json(mc.name));
      }
      send_json(res, 200, json{{"model_stats", all}});
    });
  };
  http.Get("/v2/models/stats", stats_handler);
  http.Get("/v2/models/" + name + "/stats", stats_handler);
  http.Get("/v2/models/" + name + "/versions/" + name + "/stats", stats_handler);
  // Triton's model repository extension.
  http.Post("/v2/repository/index", [this](const httplib::Request&, httplib::Response& res) {
    json a = json::array();
    for (const ModelStatus& s : mgr.statuses()) {
      json m{{"name", s.name},
             {"version", served_version(s.version)},
             {"state", s.state == ModelState::kReady ? "READY" : "UNAVAILABLE"}};
      if (!s.reason.empty()) m["reason"] = s.reason;
      a.push_back(std::move(m));
    }
    send_json(res, 200, a);
  });
  auto repository_action = [this](void (ModelManager::*action)(const std::string&)) {
    return [this, action](const httplib::Request& req, httplib::Response& res) {
      if (!authorized(req, res)) return;
      answer_errors(res, [&] {
        model_or_404(req.matches[1], "");
        (mgr.*action)(req.matches[1]);
        send_json(res, 200, json::object());
      });
    };
  };
  http.Post("/v2/repository/models/" + name + "/load", repository_action(&ModelManager::load));
  http.Post("/v2/repository/models/" + name + "/unload", repository_action(&ModelManager::unload));
  http.Post("/v1/models/" + name + "/detect",
            [this](const httplib::Request& req, httplib::Response& res) {
              detect(req, res, req.matches[1], false);
            });
  http.Post("/v1/pipelines/" + name + "/detect",
            [this](const httplib::Request& req, httplib::Response& res) {
              detect(req, res, req.matches[1], true);
            });
}

Server::Server(ModelManager& mgr, ServerConfig cfg)
    : impl_(std::make_unique<Impl>(mgr, std::move(cfg))) {
  impl_->setup();
}

Server::~Server() {
  if (!shutdown(std::chrono::milliseconds(60000))) impl_->stopper.join();
}

int Server::start() {
  Impl& s = *impl_;
  // The image path's one-time costs before ready, not in the first request or an unload's RSS.
  vision::warm_up_image_path();
  int port = s.cfg.port;
  if (port == 0) {
    port = s.http.bind_to_any_port(s.cfg.host);
  } else if (!s.http.bind_to_port(s.cfg.host, port)) {
    port = -1;
  }
  if (port < 0) {
    fail(ErrorCode::kInvalidArgument,
         "cannot listen on {}:{} (in use, or not an address of this machine); choose another "
         "--host/--port",
         s.cfg.host, s.cfg.port);
  }
  s.listener = std::thread([&s] { s.http.listen_after_bind(); });
  while (!s.http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  s.started = true;
  return port;
}

bool Server::shutdown(std::chrono::milliseconds drain) {
  Impl& s = *impl_;
  std::unique_lock<std::mutex> lk(s.stop_mu);
  if (!s.stopped && !s.stopper.joinable()) {
    s.draining = true;
    // stop() closes the listening socket; the listener then lets the workers finish the requests
    // they have accepted (and any queued connection's) and joins them.
    s.stopper = std::thread([&s] {
      s.http.stop();
      if (s.listener.joinable()) s.listener.join();
      std::lock_guard<std::mutex> g(s.stop_mu);
      s.stopped = true;
      s.stop_cv.notify_all();
    });
  }
  if (!s.stop_cv.wait_for(lk, drain, [&] { return s.stopped; })) return false;
  lk.unlock();
  if (s.stopper.joinable() && s.stopper.get_id() != std::this_thread::get_id()) s.stopper.join();
  return true;
}

bool Server::ready() const { return impl_->started.load() && !impl_->draining.load(); }

}  // namespace shoal::server
