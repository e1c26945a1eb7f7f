// Pre- and post-processing cost of the vision pipeline on bus.jpg (Google Benchmark): JPEG
// decode, Ultralytics letterbox + tensor fill, YOLOX resize, and decode + NMS of ONNX Runtime's
// reference outputs for detect / segment / pose / YOLOX. Needs ../shared (SHOAL_SHARED_DIR).
// Budget (issue 3): letterbox + detect post-processing of yolov8n on bus.jpg <= 3 ms together.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/npy.h"
#include "vision/decode.h"
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

}  // namespace
}  // namespace shoal::vision
