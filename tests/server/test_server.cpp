// End-to-end tests of the HTTP server: a real server on a loopback port (in process), driven
// with cpp-httplib's client and raw sockets. KServe v2 infer (JSON and binary extension, bit for
// bit against the model loader), metadata, repository and statistics extensions, the image
// endpoints with the real YOLOv8n on bus.jpg, metrics, the status JSON, and bad input (each a
// 4xx with a clear message, the server serving on). The `shoal serve` process and its signals
// are tested in test_serve_cli.cpp.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "manager/model_manager.h"
#include "model_builder/builder.h"
#include "runtime/model_loader.h"
#include "server/kserve.h"
#include "server/server.h"
#include "test_util.h"

namespace shoal {
namespace {

using json = nlohmann::json;

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

class Server : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = testing::TempDir() + "/shoal_server_test";
    std::filesystem::create_directories(dir_);
    BuilderOptions o;
    o.seed = 5;
    o.imgsz = 64;
    save_bytes(dir_ + "/tiny.onnx", build_yolo_detector_onnx(o));
    o.imgsz = 32;
    save_bytes(dir_ + "/cls.onnx", build_classifier_onnx(o));
    save_bytes(dir_ + "/cls16.onnx", to_float16_onnx(build_classifier_onnx(o)));
    std::string yaml =
        "memory_budget: 512MiB\n"
        "models:\n"
        "  - {name: tiny, path: tiny.onnx}\n"
        "  - {name: cls, path: cls.onnx, version: '3'}\n"
        "  - {name: cls16, path: cls16.onnx}\n";
    real_ = !shared_dir().empty();
    if (real_) {
      yaml += "  - {name: det, path: " + shared_dir() + "/models/real/yolov8n_coco.onnx}\n";
      // The same file again, with no queue: a request that finds it busy gets 429.
      yaml += "  - {name: det_q0, path: " + shared_dir() +
              "/models/real/yolov8n_coco.onnx, queue_depth: 0}\n";
      // Dynamic batching: requests within 300 ms of each other run as one batch of up to 4.
      yaml += "  - {name: dyn, path: " + shared_dir() +
              "/models/yolov8n-dynamic.onnx, max_batch: 4, max_queue_delay: 300ms}\n";
      yaml += "pipelines:\n  - {name: both, models: [det, tiny]}\n";
    }
    yaml +=
        "server:\n  max_body_bytes: 8MiB\n  admin_token: sekrit\n  read_timeout: 1s\n"
        "  max_tensor_elements: 2000000\n";
    std::ofstream(dir_ + "/models.yaml") << yaml;
    RepositoryConfig cfg = load_repository_config(dir_ + "/models.yaml");
    ManagerOptions mo;
    mo.housekeeping_period = std::chrono::milliseconds(0);
    ServerConfig sc = cfg.server;
    sc.port = 0;
    mgr_ = new ModelManager(std::move(cfg), mo);
    srv_ = new server::Server(*mgr_, sc);
    port_ = srv_->start();
  }
  static void TearDownTestSuite() {
    EXPECT_TRUE(srv_->shutdown(std::chrono::seconds(10)));
    delete srv_;
    delete mgr_;
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(60, 0);
    return c;
  }
  static std::string error_of(const httplib::Result& r) {
    json j = json::parse(r->body, nullptr, false);
    return j.is_object() && j.contains("error") ? j["error"].get<std::string>() : "";
  }

  static inline std::string dir_;
  static inline bool real_ = false;
  static inline ModelManager* mgr_ = nullptr;
  static inline server::Server* srv_ = nullptr;
  static inline int port_ = 0;
};

Tensor random_input(const Dims& d, uint32_t seed) {
  Tensor t(DType::kF32, d);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
  return t;
}

// A KServe request with the binary tensor data extension: `x` as input "images" (its raw bytes
// after the JSON header, its datatype named as KServe names it), output0 asked for as binary.
struct BinaryRequest {
  httplib::Headers headers;
  std::string body;
};
BinaryRequest binary_request(const Tensor& x) {
  json head{{"inputs",
             {{{"name", "images"},
               {"shape", x.dims()},
               {"datatype", server::datatype_name(x.dtype())},
               {"parameters", {{"binary_data_size", x.nbytes()}}}}}},
            {"outputs", {{{"name", "output0"}, {"parameters", {{"binary_data", true}}}}}}};
  const std::string hs = head.dump();
  return {{{"Inference-Header-Content-Length", std::to_string(hs.size())}},
          hs + std::string(static_cast<const char*>(x.raw()), x.nbytes())};
}

TEST_F(Server, HealthAndMetadata) {
  auto c = client();
  auto r = c.Get("/v2");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  json j = json::parse(r->body);
  EXPECT_EQ(j["name"], "shoal");
  EXPECT_NE(j["extensions"].dump().find("binary_tensor_data"), std::string::npos);
  EXPECT_EQ(c.Get("/v2/health/live")->status, 200);
  EXPECT_EQ(c.Get("/v2/health/ready")->status, 200);
  r = c.Get("/v2/models/tiny");
  ASSERT_EQ(r->status, 200) << r->body;
  j = json::parse(r->body);
  EXPECT_EQ(j["inputs"][0]["name"], "images");
  EXPECT_EQ(j["inputs"][0]["datatype"], "FP32");
  EXPECT_EQ(j["inputs"][0]["shape"], json::parse("[1,3,64,64]"));
  EXPECT_EQ(j["outputs"][0]["name"], "output0");
  EXPECT_EQ(c.Get("/v2/models/tiny/ready")->status, 200);  // loaded by the metadata request
  EXPECT_EQ(c.Get("/v2/models/cls/versions/3")->status, 200);
  r = c.Get("/v2/models/cls/versions/2");
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(error_of(r).find("no version '2'"), std::string::npos) << r->body;
}

// KServe infer through JSON and through the binary extension: the same numbers, bit for bit, as
// the model loader (`shoal run`) gives.
TEST_F(Server, InferJsonAndBinaryMatchTheLoaderBitForBit) {
  LoadOptions lo;
  auto lm = LoadedModel::load(ModelSource{dir_ + "/tiny.onnx", "", "tiny"}, lo);
  const Tensor x = random_input({1, 3, 64, 64}, 42);
  const Tensor want = lm->run(*lm->default_plan(), {x})[0];

  server::InferRequest req;
  req.id = "req-7";
  req.inputs.push_back({"images", x});
  json body{{"id", "req-7"},
            {"inputs",
             {{{"name", "images"},
               {"shape", x.dims()},
               {"datatype", "FP32"},
               {"data", std::vector<float>(x.data<float>(), x.data<float>() + x.numel())}}}}};
  auto c = client();
  auto r = c.Post("/v2/models/tiny/infer", body.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["id"], "req-7");
  EXPECT_EQ(j["model_name"], "tiny");
  ASSERT_EQ(j["outputs"][0]["shape"], json(want.dims()));
  std::vector<float> got = j["outputs"][0]["data"].get<std::vector<float>>();
  ASSERT_EQ(got.size(), static_cast<size_t>(want.numel()));
  EXPECT_EQ(std::memcmp(got.data(), want.data<float>(), want.nbytes()), 0);

  // Binary in and out.
  const BinaryRequest br = binary_request(x);
  r = c.Post("/v2/models/tiny/versions/1/infer", br.headers, br.body, "application/octet-stream");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const size_t jl = std::stoul(r->get_header_value("Inference-Header-Content-Length"));
  json rj = json::parse(r->body.substr(0, jl));
  EXPECT_EQ(rj["outputs"][0]["parameters"]["binary_data_size"], want.nbytes());
  ASSERT_EQ(r->body.size() - jl, want.nbytes());
  EXPECT_EQ(std::memcmp(r->body.data() + jl, want.raw(), want.nbytes()), 0);
}

// A half-precision model speaks FP16: declared so in its metadata, answering FP16 for FP16 sent
// as JSON numbers or as binary data, the same bits as the loader gives.
TEST_F(Server, HalfModelTakesAndReturnsFp16) {
  auto c = client();
  auto r = c.Get("/v2/models/cls16");
  ASSERT_EQ(r->status, 200) << r->body;
  json meta = json::parse(r->body);
  EXPECT_EQ(meta["inputs"][0]["datatype"], "FP16");
  EXPECT_EQ(meta["outputs"][0]["datatype"], "FP16");

  LoadOptions lo;
  auto lm = LoadedModel::load(ModelSource{dir_ + "/cls16.onnx", "", "cls16"}, lo);
  const Tensor x = cast_tensor(random_input({1, 3, 32, 32}, 9), DType::kF16);
  const Tensor want = lm->run(*lm->default_plan(), {x})[0];
  ASSERT_EQ(want.dtype(), DType::kF16);
  std::vector<float> values;
  for (int64_t i = 0; i < x.numel(); ++i) values.push_back(static_cast<float>(x.get_f64(i)));
  json body{{"inputs",
             {{{"name", "images"}, {"shape", x.dims()}, {"datatype", "FP16"}, {"data", values}}}}};
  r = c.Post("/v2/models/cls16/infer", body.dump(), "application/json");
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["outputs"][0]["datatype"], "FP16");
  const std::vector<float> got = j["outputs"][0]["data"].get<std::vector<float>>();
  ASSERT_EQ(got.size(), static_cast<size_t>(want.numel()));
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], want.get_f64(static_cast<int64_t>(i)));

  const BinaryRequest br = binary_request(x);
  r = c.Post("/v2/models/cls16/infer", br.headers, br.body, "application/octet-stream");
  ASSERT_EQ(r->status, 200) << r->body;
  const size_t jl = std::stoul(r->get_header_value("Inference-Header-Content-Length"));
  ASSERT_EQ(r->body.size() - jl, want.nbytes());
  EXPECT_EQ(std::memcmp(r->body.data() + jl, want.raw(), want.nbytes()), 0);
}

// The example request of the KServe v2 protocol documentation ("Inference Request Examples"),
// adapted to a model's input, is accepted and answered in the documented shape.
TEST_F(Server, AcceptsTheProtocolDocumentationsExampleShape) {
  json body = json::parse(R"({
    "id" : "42",
    "inputs" : [
      {"name" : "images", "shape" : [ 1, 3, 32, 32 ], "datatype" : "FP32", "data" : []}
    ],
    "outputs" : [ {"name" : "output0"} ]
  })");
  std::vector<float> data(3 * 32 * 32);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(i % 17) / 17.f;
  body["inputs"][0]["data"] = data;
  auto r = client().Post("/v2/models/cls/infer", body.dump(), "application/json");
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["id"], "42");
  EXPECT_EQ(j["model_name"], "cls");
  EXPECT_EQ(j["model_version"], "3");
  ASSERT_EQ(j["outputs"].size(), 1u);
  EXPECT_EQ(j["outputs"][0]["name"], "output0");
  EXPECT_EQ(j["outputs"][0]["datatype"], "FP32");
  EXPECT_EQ(j["outputs"][0]["shape"], json::parse("[1,80]"));
  EXPECT_EQ(j["outputs"][0]["data"].size(), 80u);
}

TEST_F(Server, DetectFindsTheBusAndFourPeopleWithTheRealYolov8n) {
  if (!real_) GTEST_SKIP() << "../shared not found";
  const std::string img = read_file(shared_dir() + "/images/bus.jpg");
  auto c = client();
  auto r = c.Post("/v1/models/det/detect?conf=0.25", img, "image/jpeg");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  int persons = 0, buses = 0;
  for (const json& d : j["detections"]) {
    const std::string n = d["class_name"];
    if (n == "person" && d["score"].get<double>() > 0.4) persons++;
    if (n == "bus") {
      buses++;
      EXPECT_NEAR(d["box"][0].get<double>(), 31, 4);
      EXPECT_NEAR(d["box"][2].get<double>(), 801, 4);
    }
  }
  EXPECT_EQ(persons, 4) << r->body;
  EXPECT_EQ(buses, 1) << r->body;
  for (const char* k :
       {"queue_ms", "decode_ms", "preprocess_ms", "inference_ms", "postprocess_ms"}) {
    EXPECT_TRUE(j["timings"].contains(k)) << k;
  }
  // Only buses; the body labelled as curl's --data-binary labels it (a form, which this image is
  // not, and far past cpp-httplib's 8 KiB form limit).
  r = c.Post("/v1/models/det/detect?classes=5", img, "application/x-www-form-urlencoded");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["detections"].size(), 1u);
  // As a multipart form, answered with the annotated image.
  httplib::MultipartFormDataItems form = {{"image", img, "bus.jpg", "image/jpeg"}};
  httplib::Headers accept = {{"Accept", "image/jpeg"}};
  r = c.Post("/v1/models/det/detect", accept, form);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "image/jpeg");
  ASSERT_GT(r->body.size(), 1000u);
  EXPECT_EQ(static_cast<unsigned char>(r->body[0]), 0xFF);
  EXPECT_EQ(static_cast<unsigned char>(r->body[1]), 0xD8);
}

// A model with queue_depth 0 that is busy answers 429 with Retry-After; the others get 200.
// Binary KServe requests (parsing is a copy) reach the model together; rounds repeat until one
// collides (under sanitizers the timing spreads).
TEST_F(Server, FullQueueAnswers429WithRetryAfter) {
  if (!real_) GTEST_SKIP() << "../shared not found";
  const BinaryRequest br = binary_request(random_input({1, 3, 640, 640}, 3));
  auto post = [&] {
    return client().Post("/v2/models/det_q0/infer", br.headers, br.body,
                         "application/octet-stream");
  };
  ASSERT_EQ(post()->status, 200);  // loaded
  int ok = 0, busy = 0, other = 0;
  for (int round = 0; round < 10 && busy == 0; ++round) {
    std::vector<int> codes(6);
    std::vector<std::string> retry(6);
    std::vector<std::thread> ts;
    for (size_t i = 0; i < 6; ++i) {
      ts.emplace_back([&, i] {
        auto r = post();
        codes[i] = r ? r->status : 0;
        if (r) retry[i] = r->get_header_value("Retry-After");
      });
    }
    for (auto& t : ts) t.join();
    for (size_t i = 0; i < 6; ++i) {
      if (codes[i] == 200) {
        ok++;
      } else if (codes[i] == 429) {
        busy++;
        EXPECT_EQ(retry[i], "1");
      } else {
        other++;
      }
    }
  }
  EXPECT_GE(ok, 1);
  EXPECT_GE(busy, 1);
  EXPECT_EQ(other, 0);
  auto m = client().Get("/metrics");
  EXPECT_NE(m->body.find("shoal_request_rejected_total{model=\"det_q0\"} " + std::to_string(busy)),
            std::string::npos);
}

// Four requests arriving together on a model with a dynamic batch dim run as one batch (the
// same inference time in each answer) and get the detections a request alone gets.
TEST_F(Server, DynamicBatchingRunsConcurrentRequestsTogether) {
  if (!real_) GTEST_SKIP() << "../shared not found";
  const std::string img = read_file(shared_dir() + "/images/bus.jpg");
  auto alone = client().Post("/v1/models/dyn/detect", img, "image/jpeg");
  ASSERT_EQ(alone->status, 200) << alone->body;
  const json want = json::parse(alone->body)["detections"];
  std::vector<json> got(4);
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i) {
    ts.emplace_back([&, i] {
      auto r = client().Post("/v1/models/dyn/detect", img, "image/jpeg");
      if (r && r->status == 200) got[static_cast<size_t>(i)] = json::parse(r->body);
    });
  }
  for (auto& t : ts) t.join();
  std::set<double> inference_ms;
  for (const json& j : got) {
    ASSERT_TRUE(j.is_object());
    inference_ms.insert(j["timings"]["inference_ms"].get<double>());
    ASSERT_EQ(j["detections"].size(), want.size());
    for (size_t k = 0; k < want.size(); ++k) {
      EXPECT_EQ(j["detections"][k]["class_id"], want[k]["class_id"]);
      for (int c = 0; c < 4; ++c) {
        EXPECT_NEAR(j["detections"][k]["box"][c].get<double>(), want[k]["box"][c].get<double>(),
                    0.5);
      }
    }
  }
  EXPECT_LT(inference_ms.size(), 4u) << "no two requests shared a batch";
}

TEST_F(Server, PipelineDetectReturnsEveryModel) {
  if (!real_) GTEST_SKIP() << "../shared not found";
  const std::string img = read_file(shared_dir() + "/images/bus.jpg");
  auto r = client().Post("/v1/pipelines/both/detect", img, "image/jpeg");
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["width"], 810);
  EXPECT_TRUE(j["models"].contains("det"));
  EXPECT_TRUE(j["models"].contains("tiny"));
  EXPECT_GE(j["models"]["det"]["detections"].size(), 4u);
}

TEST_F(Server, RepositoryLoadUnloadAndStatistics) {
  auto c = client();
  httplib::Headers auth = {{"Authorization", "Bearer sekrit"}};
  auto r = c.Post("/v2/repository/models/cls/load", "", "application/json");
  EXPECT_EQ(r->status, 401);
  r = c.Post("/v2/repository/models/cls/load", auth, "", "application/json");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(c.Get("/v2/models/cls/ready")->status, 200);
  r = c.Post("/v2/repository/index", "", "application/json");
  ASSERT_EQ(r->status, 200);
  bool listed = false;
  for (const json& m : json::parse(r->body)) listed |= m["name"] == "cls" && m["state"] == "READY";
  EXPECT_TRUE(listed) << r->body;

  json body{{"inputs",
             {{{"name", "images"},
               {"shape", {1, 3, 32, 32}},
               {"datatype", "FP32"},
               {"data", std::vector<float>(3 * 32 * 32, 0.5f)}}}}};
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(c.Post("/v2/models/cls/infer", body.dump(), "application/json")->status, 200);
  }
  r = c.Get("/v2/models/cls/stats");
  ASSERT_EQ(r->status, 200);
  json s = json::parse(r->body)["model_stats"][0];
  EXPECT_EQ(s["name"], "cls");
  EXPECT_GE(s["inference_stats"]["success"]["count"].get<int>(), 3);
  EXPECT_GT(s["inference_stats"]["success"]["ns"].get<double>(), 0);
  EXPECT_GT(s["memory"]["weights_bytes"].get<double>(), 0);
  EXPECT_GT(s["memory"]["arena_bytes"].get<double>(), 0);

  r = c.Post("/v2/repository/models/cls/unload", auth, "", "application/json");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(c.Get("/v2/models/cls/ready")->status, 400);
  r = c.Get("/metrics");
  ASSERT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("shoal_request_success_total{model=\"cls\"}"), std::string::npos);
  EXPECT_NE(r->body.find("shoal_model_unloads_total{model=\"cls\"} 1"), std::string::npos);
  EXPECT_NE(r->body.find("shoal_request_duration_seconds_bucket{model=\"cls\",le=\"+Inf\"}"),
            std::string::npos);
  EXPECT_NE(r->body.find("shoal_memory_budget_bytes 536870912"), std::string::npos);
}

TEST_F(Server, StatusPageAndItsJson) {
  auto c = client();
  auto r = c.Get("/");
  ASSERT_EQ(r->status, 200);
  EXPECT_NE(r->get_header_value("Content-Type").find("text/html"), std::string::npos);
  EXPECT_NE(r->body.find("v1/status"), std::string::npos);
  r = c.Get("/v1/status");
  ASSERT_EQ(r->status, 200);
  json j = json::parse(r->body);
  EXPECT_EQ(j["memory"]["budget_bytes"], 512u << 20);
  std::set<std::string> names;
  for (const json& m : j["models"]) names.insert(m["name"].get<std::string>());
  EXPECT_TRUE(names.count("tiny") && names.count("cls"));
}

// Each bad request gets a 4xx naming the problem; the server answers the next request.
TEST_F(Server, BadInputGetsClearErrors) {
  auto c = client();
  struct Case {
    std::string path, body, content_type;
    int status;
    std::string says;
  };
  auto infer = [](const std::string& shape, const std::string& dtype, const std::string& data) {
    return R"({"inputs":[{"name":"images","shape":)" + shape + R"(,"datatype":")" + dtype +
           R"(","data":)" + data + "}]}";
  };
  // A PNG signature and IHDR (with its CRC) claiming 10000 x 10000 pixels, and nothing more.
  const unsigned char png[] = {0x89, 'P',  'N', 'G', '\r', '\n', 0x1a, '\n', 0,    0, 0,
                               13,   'I',  'H', 'D', 'R',  0,    0,    0x27, 0x10, 0, 0,
                               0x27, 0x10, 8,   2,   0,    0,    0,    0,    0,    0, 0};
  const std::string png_header(reinterpret_cast<const char*>(png), sizeof png);
  std::string truncated = real_ ? read_file(shared_dir() + "/images/bus.jpg").substr(0, 2000) : "";
  std::vector<Case> cases = {
      {"/v2/models/tiny/infer", "{\"inputs\": [", "application/json", 400, "not valid JSON"},
      {"/v2/models/cls/infer", infer("[1,3,16,16]", "FP32", "[" + std::string(767, '1') + "1]"),
       "application/json", 400, ""},
      {"/v2/models/cls/infer", infer("[1,3,32,32]", "INT64", "[1]"), "application/json", 400,
       "has 1 elements"},
      {"/v2/models/cls/infer", infer("[1,3,32,32]", "FP99", "[1]"), "application/json", 400,
       "datatype"},
      {"/v2/models/cls/infer", infer("[1,3,32,32]", "FP32", "[1,2,3]"), "application/json", 400,
       "has 3 elements"},
      {"/v2/models/cls/infer", infer("[1000,1000,1000]", "FP32", "[1]"), "application/json", 413,
       "max_tensor_elements"},
      {"/v2/models/nope/infer", infer("[1]", "FP32", "[1]"), "application/json", 404,
       "no model named 'nope'"},
      {"/v2/models/cls/versions/9/infer", infer("[1]", "FP32", "[1]"), "application/json", 404,
       "no version"},
      {"/v1/pipelines/nope/detect", "x", "image/jpeg", 404, "no pipeline named 'nope'"},
      {"/v1/models/tiny/detect", "this is not an image", "image/jpeg", 400, ""},
      {"/v1/models/tiny/detect", png_header, "image/png", 413, "not decoded"},
      {"/v1/models/tiny/detect", "", "image/jpeg", 400, "no image"},
      {"/v1/models/tiny/detect?conf=2", "x", "image/jpeg", 400, "conf"},
      {"/v2/models/..%2F..%2Fetc/infer", "{}", "application/json", 404, ""},
      {"/v2/repository/models/tiny/unload", "", "application/json", 401, "Bearer"},
  };
  if (real_) cases.push_back({"/v1/models/tiny/detect", truncated, "image/jpeg", 400, ""});
  for (const Case& k : cases) {
    auto r = c.Post(k.path, k.body, k.content_type);
    ASSERT_TRUE(r) << k.path;
    EXPECT_EQ(r->status, k.status) << k.path << " " << k.body.substr(0, 80) << " -> " << r->body;
    const std::string e = error_of(r);
    EXPECT_FALSE(e.empty()) << k.path << ": " << r->body;
    if (!k.says.empty()) EXPECT_NE(e.find(k.says), std::string::npos) << k.path << ": " << e;
  }
  // Binary data shorter than declared.
  json head{{"inputs",
             {{{"name", "images"},
               {"shape", {1, 3, 32, 32}},
               {"datatype", "FP32"},
               {"parameters", {{"binary_data_size", 3 * 32 * 32 * 4}}}}}}};
  const std::string hs = head.dump();
  httplib::Headers hdr = {{"Inference-Header-Content-Length", std::to_string(hs.size())}};
  auto r =
      c.Post("/v2/models/cls/infer", hdr, hs + std::string(100, '\0'), "application/octet-stream");
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(error_of(r).find("shorter than declared"), std::string::npos) << r->body;
  EXPECT_EQ(c.Get("/v2/health/ready")->status, 200);
}

int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

// A 200 MB body is refused from its Content-Length with 413, before it is sent.
TEST_F(Server, OversizedBodyRefusedBeforeItIsRead) {
  int fd = connect_to(port_);
  const std::string req =
      "POST /v2/models/tiny/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 209715200\r\n\r\n";
  ASSERT_EQ(send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  const std::string resp = read_all(fd);
  close(fd);
  EXPECT_EQ(resp.rfind("HTTP/1.1 413", 0), 0u) << resp;
  EXPECT_NE(resp.find("max_body_bytes"), std::string::npos) << resp;
}

// `curl -X POST URL` sends no body and no Content-Length: the repository's load and unload,
// which take no body, still answer it.
TEST_F(Server, PostWithoutContentLengthLoadsAndUnloads) {
  for (const char* action : {"load", "unload"}) {
    int fd = connect_to(port_);
    const std::string req = std::string("POST /v2/repository/models/cls/") + action +
                            " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sekrit\r\n"
                            "Connection: close\r\n\r\n";
    ASSERT_EQ(send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
    const std::string resp = read_all(fd);
    close(fd);
    EXPECT_EQ(resp.rfind("HTTP/1.1 200", 0), 0u) << action << ": " << resp;
  }
}

// A client that never finishes its body is dropped after the read timeout (1 s here); others
// are served meanwhile.
TEST_F(Server, SlowClientTimesOutAndOthersAreServed) {
  int fd = connect_to(port_);
  const std::string req =
      "POST /v2/models/tiny/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 1000\r\n\r\n{\"inputs\":";
  ASSERT_EQ(send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  EXPECT_EQ(client().Get("/v2/health/live")->status, 200);
  const auto t0 = std::chrono::steady_clock::now();
  const std::string resp = read_all(fd);  // returns when the server closes the connection
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  close(fd);
  // Answered 4xx after the 1 s read timeout, the connection closed at the latest after the
  // 5 s keep-alive wait that follows any answer.
  EXPECT_EQ(resp.rfind("HTTP/1.1 4", 0), 0u) << resp;
  EXPECT_LT(s, 8.0);
}

}  // namespace
}  // namespace shoal
