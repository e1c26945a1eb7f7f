// The data-dependent part of a compiled model: a detector followed by an NMS graph
// (NonMaxSuppression -> Gather/GatherND; padded: TopK with a computed k -> Pad) runs end to end on
// the cpu backend. The rows it selects are the ones an NMS written in this test selects from the
// detector's own output, the reference backend agrees, and the padded form's fixed-dims output is
// served by the zero-copy path too.
//
// SHOAL_DATA_DEPENDENT_DIR=DIR also writes the models, the input and the cpu backend's outputs (as
// .npy) there, to check them against another engine (e.g. ../shared/tools/ortpeer/run.js).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <numeric>

#include "core/npy.h"
#include "model_builder/builder.h"
#include "onnx/import.h"
#include "runtime/compiled_model.h"
#include "test_util.h"

namespace shoal {
namespace {

constexpr int kImgsz = 128;
constexpr int kClasses = 3;

std::string detector_bytes() {
  BuilderOptions b;
  b.imgsz = kImgsz;
  b.num_classes = kClasses;
  b.seed = 5;
  return build_yolo_detector_onnx(b);
}

Tensor image() {
  Tensor x(DType::kF32, {1, 3, kImgsz, kImgsz});
  for (int64_t i = 0; i < x.numel(); ++i) {
    x.data<float>()[i] = static_cast<float>((i * 7919) % 255) / 255.f;
  }
  return x;
}

Graph import(const std::string& bytes) {
  return import_onnx_bytes(bytes.data(), bytes.size(), "", "model.onnx");
}

std::vector<Tensor> run(const std::string& bytes, const std::string& backend) {
  CompileRequest req;
  req.backend = backend;
  Session s(CompiledModel::compile(import(bytes), req));
  return s.run(std::vector<Tensor>{image()});
}

// With SHOAL_DATA_DEPENDENT_DIR set: the model as NAME.onnx, the input, the cpu outputs.
void keep(const std::string& name, const std::string& bytes, const std::vector<Tensor>& outs) {
  const char* dir = std::getenv("SHOAL_DATA_DEPENDENT_DIR");
  if (dir == nullptr) return;
  save_bytes(fmt::format("{}/{}.onnx", dir, name), bytes);
  write_npy(fmt::format("{}/images.npy", dir), image());
  for (size_t i = 0; i < outs.size(); ++i) {
    write_npy(fmt::format("{}/{}_out{}.npy", dir, name, i), outs[i]);
  }
}

struct Row {
  int64_t cls = 0, box = 0;
};

// ONNX NonMaxSuppression (center_point_box 1) on the raw [1, 4+nc, A] output, written here.
std::vector<Row> expected_selection(const Tensor& raw, const NmsGraphOptions& o) {
  const int64_t a = raw.dims()[2];
  const float* p = raw.data<float>();
  auto at = [&](int64_t c, int64_t i) { return p[c * a + i]; };
  auto iou = [&](int64_t i, int64_t j) {
    const float ix = std::min(at(0, i) + at(2, i) / 2, at(0, j) + at(2, j) / 2) -
                     std::max(at(0, i) - at(2, i) / 2, at(0, j) - at(2, j) / 2);
    const float iy = std::min(at(1, i) + at(3, i) / 2, at(1, j) + at(3, j) / 2) -
                     std::max(at(1, i) - at(3, i) / 2, at(1, j) - at(3, j) / 2);
    if (ix <= 0 || iy <= 0) return 0.f;
    const float inter = ix * iy;
    return inter / (at(2, i) * at(3, i) + at(2, j) * at(3, j) - inter);
  };
  std::vector<Row> rows;
  for (int64_t c = 0; c < kClasses; ++c) {
    std::vector<int64_t> order;
    for (int64_t i = 0; i < a; ++i) {
      if (at(4 + c, i) > o.score) order.push_back(i);
    }
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t x, int64_t y) { return at(4 + c, x) > at(4 + c, y); });
    std::vector<int64_t> kept;
    for (int64_t i : order) {
      if (static_cast<int64_t>(kept.size()) == o.max_boxes_per_class) break;
      if (std::none_of(kept.begin(), kept.end(), [&](int64_t k) { return iou(k, i) > o.iou; })) {
        kept.push_back(i);
        rows.push_back({c, i});
      }
    }
  }
  return rows;
}

TEST(DataDependent, DetectorWithAnNmsGraphSelectsWhatNmsSelects) {
  const std::string det = detector_bytes();
  NmsGraphOptions o;
  o.score = 0.3f;
  o.max_boxes_per_class = 20;
  const std::string with_nms = with_nms_graph_onnx(det, o);
  CompileRequest req;
  const auto cm = CompiledModel::compile(import(with_nms), req);
  EXPECT_GT(cm->data_dependent_nodes(), 0u);
  ASSERT_EQ(cm->outputs().size(), 2u);
  EXPECT_EQ(cm->outputs()[0].dims, (Dims{-1, 3})) << "declared, known after the run";

  const Tensor raw = run(det, "cpu").at(0);
  const std::vector<Row> want = expected_selection(raw, o);
  ASSERT_GT(want.size(), 3u) << "the test needs boxes that survive NMS";
  ASSERT_LT(want.size(), static_cast<size_t>(kClasses * o.max_boxes_per_class))
      << "and boxes that NMS or the score threshold removes";

  const std::vector<Tensor> cpu = run(with_nms, "cpu");
  keep("nms_graph", with_nms, cpu);
  const Tensor& sel = cpu.at(0);
  const Tensor& dets = cpu.at(1);
  ASSERT_EQ(sel.dims(), (Dims{static_cast<int64_t>(want.size()), 3}));
  ASSERT_EQ(dets.dims(), (Dims{static_cast<int64_t>(want.size()), 6}));
  const int64_t a = raw.dims()[2];
  for (size_t k = 0; k < want.size(); ++k) {
    const int64_t* s = sel.data<int64_t>() + 3 * k;
    EXPECT_EQ(s[0], 0);
    EXPECT_EQ(s[1], want[k].cls) << "row " << k;
    EXPECT_EQ(s[2], want[k].box) << "row " << k;
    const float* d = dets.data<float>() + 6 * k;
    const float* r = raw.data<float>();
    const int64_t i = want[k].box;
    EXPECT_NEAR(d[0], r[0 * a + i] - r[2 * a + i] / 2, 1e-3);
    EXPECT_NEAR(d[3], r[1 * a + i] + r[3 * a + i] / 2, 1e-3);
    EXPECT_FLOAT_EQ(d[4], r[(4 + want[k].cls) * a + i]);
    EXPECT_EQ(d[5], static_cast<float>(want[k].cls));
  }
  // The reference backend runs the same graph to the same rows.
  const std::vector<Tensor> ref = run(with_nms, "reference");
  EXPECT_EQ(ref.at(0).dims(), sel.dims());
  // Within the detector's own float32 difference between the backends (about 1e-5).
  EXPECT_LE(compare(dets, ref.at(1)).norm_rel, 1e-4) << compare(dets, ref.at(1)).str();
}

TEST(DataDependent, PaddedNmsExportKeepsItsFixedOutputInTheArena) {
  const std::string det = detector_bytes();
  NmsGraphOptions o;
  o.score = 0.3f;
  o.max_boxes_per_class = 20;
  const std::vector<Tensor> unpadded = run(with_nms_graph_onnx(det, o), "cpu");
  const Tensor& dets = unpadded.at(1);
  o.padded = true;
  o.max_det = 8;  // fewer than NMS keeps: TopK's k is the smaller of the two
  ASSERT_GT(dets.dims()[0], o.max_det);
  const std::string padded = with_nms_graph_onnx(det, o);

  CompileRequest req;
  const auto cm = CompiledModel::compile(import(padded), req);
  ASSERT_EQ(cm->outputs().at(0).dims, (Dims{1, 8, 6}));
  Session s(cm);
  const Tensor out = s.run(std::vector<Tensor>{image()}).at(0);
  // The zero-copy form: the output copied into its slot of the arena.
  Tensor in = s.input_view(0);
  const Tensor x = image();
  std::copy(x.data<float>(), x.data<float>() + x.numel(), in.data<float>());
  s.run_in_place();
  const Tensor view = s.output_view(0);
  EXPECT_EQ(compare(view, out).max_abs, 0);

  // The 8 best rows by score, in descending order.
  std::vector<int64_t> order(static_cast<size_t>(dets.dims()[0]));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) {
    return dets.data<float>()[6 * x + 4] > dets.data<float>()[6 * y + 4];
  });
  for (int64_t k = 0; k < 8; ++k) {
    for (int c = 0; c < 6; ++c) {
      EXPECT_FLOAT_EQ(out.data<float>()[6 * k + c],
                      dets.data<float>()[6 * order[static_cast<size_t>(k)] + c])
          << "row " << k;
    }
  }
  // Fewer detections than max_det: zero rows after them.
  o.max_det = 300;
  const std::string wide_bytes = with_nms_graph_onnx(det, o);
  const std::vector<Tensor> wide = run(wide_bytes, "cpu");
  keep("nms_graph_padded", wide_bytes, wide);
  ASSERT_EQ(wide.at(0).dims(), (Dims{1, 300, 6}));
  const int64_t n = dets.dims()[0];
  for (int64_t k = n; k < 300; ++k) {
    for (int c = 0; c < 6; ++c) ASSERT_EQ(wide.at(0).data<float>()[6 * k + c], 0.f) << k;
  }
  EXPECT_GT(wide.at(0).data<float>()[6 * (n - 1) + 4], 0.3f);
}

}  // namespace
}  // namespace shoal
