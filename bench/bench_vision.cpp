// Pre- and post-processing cost of the vision pipeline on bus.jpg (Google Benchmark): JPEG
// decode, Ultralytics letterbox + tensor fill, YOLOX resize, and decode + NMS of ONNX Runtime's
// reference outputs for detect / segment / pose / YOLOX, and yolov8n on the cpu backend: bare
// inference next to the end-to-end Detector call (from the cv::Mat, and from the JPEG bytes), so
// the differences measured in one run are the pipeline's overhead. Needs ../shared
// (SHOAL_SHARED_DIR). Budget: end-to-end detect adds <= 3 ms over bare inference.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/npy.h"
#include "onnx/import.h"
#include "runtime/compiled_model.h"
#include "vision/decode.h"
#include "vision/detector.h"
#include "vision/image_io.h"
#include "vision/model_info.h"
#include "vision/preprocess.h"

namespace shoal::vision {
namespace {

std::string shared() {
  const char* env = std::getenv("SHOAL_SHARED_DIR");
  std::string d = env ? env : "../shared";
  if (!std::filesystem::exists(d + "/images/bus.jpg")) d = "/work/shared";
  return std::filesystem::exists(d + "/images/bus.jpg") ? d : std::string();
}

std::vector<uint8_t> bus_bytes() {
  std::ifstream f(shared() + "/images/bus.jpg", std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

void BM_DecodeJpegBus(benchmark::State& st) {
  if (shared().empty()) return st.SkipWithError("../shared not found (set SHOAL_SHARED_DIR)");
  const std::vector<uint8_t> bytes = bus_bytes();
  for (auto _ : st) benchmark::DoNotOptimize(decode_image(bytes.data(), bytes.size(), "bus.jpg"));
}
BENCHMARK(BM_DecodeJpegBus)->Unit(benchmark::kMillisecond);

void BM_PreprocessLetterbox640(benchmark::State& st) {
  if (shared().empty()) return st.SkipWithError("../shared not found (set SHOAL_SHARED_DIR)");
  const cv::Mat img = read_image(shared() + "/images/bus.jpg");
  ModelInfo info;  // Ultralytics detect at 640
  Tensor input(DType::kF32, {1, 3, 640, 640});
  for (auto _ : st) benchmark::DoNotOptimize(preprocess_into(img, info, input, 0));
}
BENCHMARK(BM_PreprocessLetterbox640)->Unit(benchmark::kMillisecond);

void BM_PreprocessYolox416(benchmark::State& st) {
  if (shared().empty()) return st.SkipWithError("../shared not found (set SHOAL_SHARED_DIR)");
  const cv::Mat img = read_image(shared() + "/images/bus.jpg");
  ModelInfo info;
  info.family = Family::kYolox;
  info.input_width = info.input_height = 416;
  Tensor input(DType::kF32, {1, 3, 416, 416});
  for (auto _ : st) benchmark::DoNotOptimize(preprocess_into(img, info, input, 0));
}
BENCHMARK(BM_PreprocessYolox416)->Unit(benchmark::kMillisecond);

// Decode + NMS of reference/<ref> for a model described by `metadata`.
void postprocess_bench(benchmark::State& st, const std::string& ref,
                       const std::map<std::string, std::string>& metadata, int size,
                       const std::vector<std::string>& files) {
  if (shared().empty()) return st.SkipWithError("../shared not found (set SHOAL_SHARED_DIR)");
  std::vector<Tensor> outs;
  std::vector<Dims> dims;
  for (const std::string& f : files) {
    outs.push_back(read_npy(shared() + "/reference/" + ref + "/" + f));
    dims.push_back(outs.back().dims());
  }
  const ModelInfo info = infer_model_info(metadata, {1, 3, size, size}, dims, {});
  const cv::Mat img = read_image(shared() + "/images/bus.jpg");
  Tensor input(DType::kF32, {1, 3, size, size});
  const LetterboxInfo lb = preprocess_into(img, info, input, 0);
  const DecodeOptions opt = default_decode_options(info.family);
  size_t n = 0;
  for (auto _ : st) {
    Result r = postprocess(outs, 0, info, lb, opt);
    n = r.detections.size();
    benchmark::DoNotOptimize(r);
  }
  st.counters["detections"] = static_cast<double>(n);
}

void BM_PostprocessDetectYolov8nBus(benchmark::State& st) {
  postprocess_bench(st, "yolov8n/bus", {{"task", "detect"}}, 640, {"output0.npy"});
}
BENCHMARK(BM_PostprocessDetectYolov8nBus)->Unit(benchmark::kMillisecond);

void BM_PostprocessSegmentYolov8nBus(benchmark::State& st) {
  postprocess_bench(st, "yolov8n-seg/bus", {{"task", "segment"}}, 640,
                    {"output0.npy", "output1.npy"});
}
BENCHMARK(BM_PostprocessSegmentYolov8nBus)->Unit(benchmark::kMillisecond);

void BM_PostprocessPoseYolov8nBus(benchmark::State& st) {
  postprocess_bench(st, "yolov8n-pose/bus", {{"task", "pose"}, {"kpt_shape", "[17, 3]"}}, 640,
                    {"output0.npy"});
}
BENCHMARK(BM_PostprocessPoseYolov8nBus)->Unit(benchmark::kMillisecond);

void BM_PostprocessYoloxNanoBus(benchmark::State& st) {
  postprocess_bench(st, "yolox_nano/bus", {}, 416, {"output.npy"});
}
BENCHMARK(BM_PostprocessYoloxNanoBus)->Unit(benchmark::kMillisecond);

// yolov8n on the cpu backend, compiled once and shared by the three benchmarks below (a
// Detector for the end-to-end calls, a Session of the same graph and request for bare inference).
struct Yolov8n {
  Detector detector;
  std::unique_ptr<Session> session;
  Tensor input;  // bus.jpg, letterboxed
};

Yolov8n* yolov8n() {
  static const std::unique_ptr<Yolov8n> m = []() -> std::unique_ptr<Yolov8n> {
    const std::string path = shared() + "/models/yolov8n.onnx";
    if (shared().empty() || !std::filesystem::exists(path)) return nullptr;
    DetectorOptions opt;
    opt.backend = "cpu";
    auto r = std::make_unique<Yolov8n>(Yolov8n{Detector::open(path, opt), nullptr, {}});
    r->session = std::make_unique<Session>(r->detector.loaded()->default_plan(),
                                           r->detector.loaded()->memory().arenas());
    r->input = Tensor(DType::kF32, r->detector.model().inputs()[0].dims);
    preprocess_into(read_image(shared() + "/images/bus.jpg"), r->detector.info(), r->input, 0);
    return r;
  }();
  return m.get();
}

constexpr const char* kNoYolov8n = "../shared/models/yolov8n.onnx not found (set SHOAL_SHARED_DIR)";

// Session::run on the pre-processed bus.jpg tensor: the bare inference time.
void BM_InferYolov8nBus(benchmark::State& st) {
  Yolov8n* m = yolov8n();
  if (!m) return st.SkipWithError(kNoYolov8n);
  for (auto _ : st) benchmark::DoNotOptimize(m->session->run({m->input}));
  st.counters["threads"] = compute_threads();
}
BENCHMARK(BM_InferYolov8nBus)->Unit(benchmark::kMillisecond)->UseRealTime();

// Detector::detect on the decoded image: letterbox + inference + decode + NMS.
void BM_DetectYolov8nBusMat(benchmark::State& st) {
  Yolov8n* m = yolov8n();
  if (!m) return st.SkipWithError(kNoYolov8n);
  const cv::Mat img = read_image(shared() + "/images/bus.jpg");
  size_t n = 0;
  for (auto _ : st) {
    Result r = m->detector.detect(img);
    n = r.detections.size();
    benchmark::DoNotOptimize(r);
  }
  st.counters["detections"] = static_cast<double>(n);
  st.counters["threads"] = compute_threads();
}
BENCHMARK(BM_DetectYolov8nBusMat)->Unit(benchmark::kMillisecond)->UseRealTime();

// What `shoal detect` does per image: JPEG decode of the bytes in memory (into the Detector's
// reused buffer), then the above.
void BM_DetectYolov8nBusJpeg(benchmark::State& st) {
  Yolov8n* m = yolov8n();
  if (!m) return st.SkipWithError(kNoYolov8n);
  const std::vector<uint8_t> bytes = bus_bytes();
  size_t n = 0;
  for (auto _ : st) {
    Result r = m->detector.detect_encoded(bytes.data(), bytes.size(), "bus.jpg");
    n = r.detections.size();
    benchmark::DoNotOptimize(r);
  }
  st.counters["detections"] = static_cast<double>(n);
  st.counters["threads"] = compute_threads();
}
BENCHMARK(BM_DetectYolov8nBusJpeg)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace shoal::vision
