// `shoal detect` and `shoal pipeline` as processes: a batch mixing good and bad files (missing,
// empty, truncated, corrupt, oversized header, grayscale and 16-bit PNG, a folder) gives one JSON
// document with a result or an "error" per file, a non-zero exit code, and every good file still
// processed; --save writes annotated images; numbers print short; `shoal` alone shows its help;
// the classic YOLOv5, end-to-end and RT-DETR heads print the boxes the library's Detector finds,
// and a --family that does not fit is refused with the reason; an OBB model prints, writes and
// draws its rotated boxes, and a --task obb that does not fit is refused; `shoal quantize` writes a
// QDQ model that runs on int8 data, skipping and counting images it cannot decode, and the real
// YOLOv8n quantized on the photos finds what the float model finds. Uses small generated models
// (no ../shared needed, except where a test says so).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <regex>

#include "cli_util.h"
#include "model_builder/builder.h"
#include "onnx/import.h"
#include "runtime/compiled_model.h"
#include "test_util.h"
#include "vision/detector.h"
#include "vision/nms.h"
#include "vision/result_export.h"
#include "vision/rotated_box.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;

class VisionCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = testing::TempDir() + "/shoal_vision_cli";
    fs::remove_all(dir_);
    fs::create_directories(dir_ + "/folder");
    BuilderOptions o;
    o.imgsz = 64;
    o.num_classes = 3;
    save_bytes(dir_ + "/tiny.onnx", build_yolo_detector_onnx(o));
    cv::Mat img(48, 80, CV_8UC3);
    cv::randu(img, 0, 255);
    cv::imwrite(dir_ + "/good.jpg", img);
    cv::imwrite(dir_ + "/folder/a.png", img);
    cv::imwrite(dir_ + "/folder/b.bmp", img);
    cv::imwrite(dir_ + "/one.png", cv::Mat(1, 1, CV_8UC3, cv::Scalar(9, 9, 9)));
    cv::imwrite(dir_ + "/gray16.png", cv::Mat(30, 20, CV_16U, cv::Scalar(40000)));
    std::ofstream(dir_ + "/empty.jpg");
    std::ofstream(dir_ + "/text.png") << "not an image";
    std::vector<uint8_t> jpg;
    cv::imencode(".jpg", img, jpg);
    std::ofstream(dir_ + "/truncated.jpg", std::ios::binary)
        .write(reinterpret_cast<const char*>(jpg.data()),
               static_cast<std::streamsize>(jpg.size() / 2));
    std::vector<uint8_t> png;
    cv::imencode(".png", img, png);
    for (int at : {16, 20}) {  // IHDR width, height = 20000
      png[static_cast<size_t>(at)] = 0;
      png[static_cast<size_t>(at) + 1] = 0;
      png[static_cast<size_t>(at) + 2] = 20000 >> 8;
      png[static_cast<size_t>(at) + 3] = 20000 & 0xFF;
    }
    std::ofstream(dir_ + "/huge.png", std::ios::binary)
        .write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
  }
  static std::string f(const std::string& name) { return dir_ + "/" + name; }
  static std::string model() { return f("tiny.onnx") + " --backend reference"; }
  static std::string dir_;
};
std::string VisionCli::dir_;

TEST_F(VisionCli, MixedBatchReportsEachFile) {
  const std::vector<std::string> files = {"good.jpg", "missing.jpg",   "empty.jpg",
                                          "text.png", "truncated.jpg", "huge.png",
                                          "one.png",  "gray16.png",    "folder"};
  std::string args = "detect " + model() + " --json";
  for (const std::string& n : files) args += " " + f(n);
  ProcessRun r = run_shoal(args);
  EXPECT_EQ(r.code, 1) << r.err;
  nlohmann::json j;
  ASSERT_NO_THROW(j = nlohmann::json::parse(r.out)) << r.out;
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 10u) << r.out;  // the folder expands to 2 images
  std::map<std::string, nlohmann::json> by_name;
  for (const auto& e : j) by_name[fs::path(e["image"].get<std::string>()).filename().string()] = e;
  for (const char* ok : {"good.jpg", "one.png", "gray16.png", "a.png", "b.bmp"}) {
    ASSERT_TRUE(by_name.count(ok)) << ok;
    EXPECT_FALSE(by_name[ok].contains("error")) << ok << ": " << by_name[ok].dump();
    EXPECT_TRUE(by_name[ok]["detections"].is_array()) << ok;
  }
  EXPECT_EQ(by_name["good.jpg"]["width"], 80);
  EXPECT_EQ(by_name["good.jpg"]["height"], 48);
  EXPECT_EQ(by_name["one.png"]["width"], 1);
  const std::map<std::string, std::string> bad = {{"missing.jpg", "no such file"},
                                                  {"empty.jpg", "empty file"},
                                                  {"text.png", "not a JPEG, PNG or BMP"},
                                                  {"truncated.jpg", "truncated JPEG"},
                                                  {"huge.png", "above the limit"}};
  for (const auto& [name, msg] : bad) {
    ASSERT_TRUE(by_name.count(name)) << name;
    ASSERT_TRUE(by_name[name].contains("error")) << name;
    EXPECT_NE(by_name[name]["error"].get<std::string>().find(msg), std::string::npos)
        << name << ": " << by_name[name]["error"];
  }
  EXPECT_NE(r.err.find("5 of 10 images failed"), std::string::npos) << r.err;
  // Detection entries have the documented fields.
  for (const auto& e : j) {
    for (const auto& d : e.value("detections", nlohmann::json::array())) {
      EXPECT_TRUE(d.contains("class_id") && d.contains("class_name") && d.contains("score") &&
                  d["box"].size() == 4);
    }
  }
}

TEST_F(VisionCli, AllGoodExitsZeroAndSaves) {
  const std::string out = f("saved");
  ProcessRun r = run_shoal("detect " + model() + " " + f("good.jpg") + " " + f("folder") +
                           " --save " + out + " --conf 0.01 --max-det 5");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("good.jpg"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("80x48"), std::string::npos) << r.out;
  for (const char* n : {"good.jpg", "a.png", "b.bmp"}) {
    cv::Mat m = cv::imread(out + "/" + n);
    EXPECT_EQ(m.size(), cv::Size(80, 48)) << n;
  }
}

TEST_F(VisionCli, BadModelAndFlags) {
  ProcessRun r = run_shoal("detect " + f("no_such_model.onnx") + " " + f("good.jpg"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("no_such_model.onnx"), std::string::npos) << r.err;
  r = run_shoal("detect " + model() + " " + f("good.jpg") + " --conf 2");
  EXPECT_NE(r.code, 0);
  r = run_shoal("detect " + model() + " " + f("good.jpg") + " --task pose");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("pose"), std::string::npos) << r.err;
}

TEST_F(VisionCli, BareCommandShowsHelpAndVersion) {
  ProcessRun r = run_shoal("");
  EXPECT_EQ(r.code, 0) << r.err;
  for (const char* cmd : {"detect", "pipeline", "serve", "plan", "bench"}) {
    EXPECT_NE(r.out.find(cmd), std::string::npos) << cmd << " missing from:\n" << r.out;
  }
  r = run_shoal("--version");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(^shoal \d+\.\d+\.\d+ \(cpu:dnnl-)"))) << r.out;
}

// Boxes to 0.01 px and scores to 1e-4, printed as such (no "150.17000000000002").
TEST_F(VisionCli, JsonNumbersArePrintedShort) {
  ProcessRun r = run_shoal("detect " + model() + " " + f("good.jpg") + " --conf 0.01 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_FALSE(j.at(0).at("detections").empty()) << r.out;
  EXPECT_FALSE(std::regex_search(r.out, std::regex(R"(\d\.\d{5,})"))) << r.out;
  for (const nlohmann::json& d : j.at(0).at("detections")) {
    const double s = d.at("score").get<double>();
    EXPECT_NEAR(s * 1e4, std::round(s * 1e4), 1e-6);
    for (const nlohmann::json& v : d.at("box")) {
      EXPECT_NEAR(v.get<double>() * 100, std::round(v.get<double>() * 100), 1e-6);
    }
  }
}

TEST_F(VisionCli, NoMasksDropsTheMaskColumn) {
  const std::string seg = std::string(SHOAL_SHARED_DIR) + "/models/yolov8n-seg.onnx";
  const std::string img = std::string(SHOAL_SHARED_DIR) + "/images/bus.jpg";
  if (!fs::exists(seg) || !fs::exists(img)) GTEST_SKIP() << "../shared not found";
  const std::string args = "detect " + seg + " " + img + " --conf 0 --max-det 3";
  ProcessRun r = run_shoal(args);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("mask px"), std::string::npos) << r.out;
  r = run_shoal(args + " --no-masks");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.find("mask px"), std::string::npos) << r.out;
}

// --format csv and coco and --save-txt, read back, give the detections --json gives.
TEST_F(VisionCli, CsvCocoAndYoloTxtReadBackAsTheJson) {
  const std::string args = "detect " + model() + " " + f("good.jpg") + " --conf 0.01 --max-det 5";
  ProcessRun r = run_shoal(args + " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json want = nlohmann::json::parse(r.out).at(0).at("detections");
  ASSERT_FALSE(want.empty());

  r = run_shoal(args + " --format csv");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto rows = vision::parse_csv(r.out);
  ASSERT_EQ(rows.size(), want.size() + 1) << r.out;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(std::stoi(rows[i + 1][1]), want[i]["class_id"].get<int>());
    EXPECT_EQ(std::stod(rows[i + 1][3]), want[i]["score"].get<double>());
    for (int k = 0; k < 4; ++k) {
      EXPECT_EQ(std::stod(rows[i + 1][4 + k]), want[i]["box"][k].get<double>());
    }
  }

  r = run_shoal(args + " --format coco");
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json coco = nlohmann::json::parse(r.out);
  ASSERT_EQ(coco.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(coco[i]["image_id"], 1);
    EXPECT_EQ(coco[i]["category_id"], want[i]["class_id"]) << "3 classes: ids as they are";
    EXPECT_NEAR(coco[i]["bbox"][2].get<double>(),
                want[i]["box"][2].get<double>() - want[i]["box"][0].get<double>(), 0.011);
  }

  const std::string txt = f("labels");
  r = run_shoal(args + " --save-txt " + txt + " --save-conf");
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream in(txt + "/good.txt");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::vector<vision::YoloTxtBox> boxes = vision::parse_yolo_txt(text);
  ASSERT_EQ(boxes.size(), want.size()) << text;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(boxes[i].class_id, want[i]["class_id"].get<int>());
    EXPECT_NEAR((boxes[i].cx - boxes[i].w / 2) * 80, want[i]["box"][0].get<double>(), 0.01);
    EXPECT_NEAR((boxes[i].cy + boxes[i].h / 2) * 48, want[i]["box"][3].get<double>(), 0.01);
    EXPECT_NEAR(boxes[i].conf, want[i]["score"].get<double>(), 1e-4);
  }
}

TEST_F(VisionCli, ClassesAndImgsz) {
  ProcessRun r =
      run_shoal("detect " + model() + " " + f("good.jpg") + " --conf 0.01 --classes 1 2 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json dets = nlohmann::json::parse(r.out).at(0).at("detections");
  ASSERT_FALSE(dets.empty());
  for (const nlohmann::json& d : dets) {
    EXPECT_TRUE(d["class_id"] == 1 || d["class_id"] == 2) << d;
  }
  // A model with fixed dims refuses another size, naming the dims.
  r = run_shoal("detect " + model() + " " + f("good.jpg") + " --imgsz 128");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("[1,3,128,128]"), std::string::npos) << r.err;
  // A model with dynamic height and width runs at the size asked for.
  const std::string dynamic = std::string(SHOAL_SHARED_DIR) + "/models/yolov8n-dynamic.onnx";
  if (!fs::exists(dynamic)) GTEST_SKIP() << "../shared not found";
  r = run_shoal("detect " + dynamic + " " + f("good.jpg") + " --imgsz 256 416");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("input 416x256"), std::string::npos) << r.out;
}

class PipelineCli : public VisionCli {
 protected:
  static std::string config() {
    const std::string path = f("pipe.yaml");
    std::ofstream(path) << "memory_budget: 64MiB\nmodels:\n"
                           "  - name: a\n    path: tiny.onnx\n"
                           "  - name: b\n    path: tiny.onnx\n"
                           "pipelines:\n  - name: both\n    models: [a, b]\n";
    return path;
  }
};

TEST_F(PipelineCli, UnknownNameIsOneError) {
  ProcessRun r = run_shoal("pipeline --config " + config() + " --name nope " + f("good.jpg") + " " +
                           f("folder"));
  EXPECT_NE(r.code, 0);
  size_t count = 0;
  for (size_t at = r.err.find("'nope'"); at != std::string::npos; at = r.err.find("'nope'", at + 1))
    ++count;
  EXPECT_EQ(count, 1u) << r.err;
  EXPECT_NE(r.err.find("both"), std::string::npos) << "names the pipelines there are: " << r.err;
}

TEST_F(PipelineCli, FoldersThresholdsJsonAndSave) {
  const std::string out = f("pipe_saved");
  ProcessRun r = run_shoal("pipeline --config " + config() + " --name both " + f("good.jpg") + " " +
                           f("folder") + " --conf 0.01 --iou 0.5 --max-det 2 --json --save " + out);
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 3u) << r.out;
  for (const nlohmann::json& item : j) {
    for (const char* m : {"a", "b"}) {
      const nlohmann::json& dets = item.at("models").at(m).at("detections");
      EXPECT_GE(dets.size(), 1u) << item;
      EXPECT_LE(dets.size(), 2u) << "--max-det 2: " << item;
    }
    EXPECT_EQ(item.at("letterboxes").get<int>(), 1) << "one letterbox for two same-size models";
  }
  for (const char* n : {"good.jpg", "a.png", "b.bmp"}) {
    EXPECT_EQ(cv::imread(out + "/" + n).size(), cv::Size(80, 48)) << n;
  }
  // The table ends with what the manager did.
  r = run_shoal("pipeline --config " + config() + " --name both " + f("good.jpg"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("manager: budget 64.00 MiB"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("load"), std::string::npos) << r.out;
}

// The heads beyond Ultralytics' anchor-free one: `shoal detect` picks the decoder (metadata or
// shapes), prints the boxes, and its JSON boxes are the library Detector's (which
// tests/vision/test_decode_heads.cpp checks against an independent decoder).
TEST_F(VisionCli, OtherHeadsPrintTheirBoxes) {
  struct Head {
    HeadKind kind;
    const char* name;
    const char* family;  // as printed
    const char* wrong;   // a --family that does not fit
    const char* reason;  // in the refusal
  };
  const Head heads[] = {
      {HeadKind::kYolov5, "yolov5", "yolov5", "rtdetr", "it looks like yolov5 (--family yolov5)"},
      {HeadKind::kEnd2End, "end2end", "end2end", "yolox", "[B, 84, 5+classes]"},
      {HeadKind::kRtdetr, "rtdetr", "rtdetr", "end2end", "metadata (an RT-DETR head)"},
  };
  for (const Head& h : heads) {
    HeadModelOptions ho;
    ho.kind = h.kind;
    ho.seed = 21;
    ho.num_classes = 4;
    ho.rows = 50;
    ho.metadata = h.kind != HeadKind::kEnd2End;  // the end-to-end one found from its shape
    const std::string path = f(std::string("head_") + h.name + ".onnx");
    save_bytes(path, build_head_onnx(ho));

    ProcessRun r = run_shoal("detect " + path + " " + f("good.jpg") + " --max-det 6");
    EXPECT_EQ(r.code, 0) << h.name << ": " << r.err;
    EXPECT_NE(r.out.find(std::string(h.family) + " detect"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("6 detections"), std::string::npos) << h.name << ": " << r.out;

    r = run_shoal("detect " + path + " " + f("good.jpg") + " --json");
    ASSERT_EQ(r.code, 0) << h.name << ": " << r.err;
    nlohmann::json j = nlohmann::json::parse(r.out);
    const nlohmann::json& dets = j.at(0).at("detections");
    vision::Detector det = vision::Detector::open(path);
    const vision::Result want = det.detect_file(f("good.jpg"));
    ASSERT_GT(want.detections.size(), 2u) << h.name;
    ASSERT_EQ(dets.size(), want.detections.size()) << h.name << ": " << r.out;
    for (size_t i = 0; i < dets.size(); ++i) {
      const vision::Detection& w = want.detections[i];
      EXPECT_EQ(dets[i]["class_id"], w.class_id) << h.name << " #" << i;
      // JSON rounds scores to 1e-4 and boxes to 0.01 px.
      EXPECT_NEAR(dets[i]["score"].get<double>(), w.score, 5e-5 + 1e-7) << h.name << " #" << i;
      const float box[4] = {w.box.x1, w.box.y1, w.box.x2, w.box.y2};
      for (size_t k = 0; k < 4; ++k) {
        EXPECT_NEAR(dets[i]["box"][k].get<double>(), box[k], 0.005 + 1e-4) << h.name << " #" << i;
      }
    }

    r = run_shoal("detect " + path + " " + f("good.jpg") + " --family " + h.wrong);
    EXPECT_NE(r.code, 0) << h.name << " as " << h.wrong;
    EXPECT_NE(r.err.find(h.reason), std::string::npos) << h.name << ": " << r.err;
    EXPECT_NE(r.err.find(std::string("family ") + h.wrong), std::string::npos) << r.err;
  }
}

// An OBB model (Ultralytics' YOLO11-obb export layout): the table shows the rotated boxes, --json
// their rbox and polygon as the library's Detector finds them, --save-txt Ultralytics' OBB labels
// and --save an annotated image. Without metadata it needs --task obb; a detect model forced to
// obb is refused with the reason.
TEST_F(VisionCli, ObbModelPrintsRotatedBoxes) {
  HeadModelOptions ho;
  ho.kind = HeadKind::kObb;
  ho.seed = 23;
  ho.num_classes = 15;
  ho.imgsz = 128;
  const std::string path = f("head_obb.onnx");
  save_bytes(path, build_head_onnx(ho));
  vision::Detector det = vision::Detector::open(path);
  const vision::Result want = det.detect_file(f("good.jpg"));
  ASSERT_GT(want.detections.size(), 3u);

  ProcessRun r = run_shoal("detect " + path + " " + f("good.jpg") + " --max-det 3");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("ultralytics obb, 15 classes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("3 detections"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("angle"), std::string::npos) << r.out;
  for (size_t i = 0; i < 3; ++i) {  // each row ends with its rotated box, the angle in degrees
    const vision::RotatedBox& rb = *want.detections[i].rbox;
    const std::string tail = fmt::format("{:>8.1f} {:>8.1f} {:>8.1f} {:>8.1f} {:>6.1f}\n", rb.cx,
                                         rb.cy, rb.w, rb.h, rb.angle * 180 / 3.14159265358979);
    EXPECT_NE(r.out.find(want.detections[i].class_name), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(tail), std::string::npos) << tail << " not in\n" << r.out;
  }

  const std::string txt = f("obb_txt"), saved = f("obb_saved");
  r = run_shoal("detect " + path + " " + f("good.jpg") + " --json --save-txt " + txt +
                " --save-conf --save " + saved);
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json dets = nlohmann::json::parse(r.out).at(0).at("detections");
  ASSERT_EQ(dets.size(), want.detections.size()) << r.out;
  for (size_t i = 0; i < dets.size(); ++i) {
    const vision::Detection& w = want.detections[i];
    EXPECT_EQ(dets[i]["class_name"], w.class_name) << i;
    EXPECT_NEAR(dets[i]["score"].get<double>(), w.score, 5e-5 + 1e-7) << i;
    const float rb[5] = {w.rbox->cx, w.rbox->cy, w.rbox->w, w.rbox->h, w.rbox->angle};
    for (size_t k = 0; k < 5; ++k) {
      EXPECT_NEAR(dets[i]["rbox"][k].get<double>(), rb[k], 0.005 + 1e-4) << i << " " << k;
    }
    const auto corners = vision::rbox_corners(*w.rbox);
    ASSERT_EQ(dets[i]["polygon"].size(), 4u);
    for (size_t k = 0; k < 4; ++k) {
      EXPECT_NEAR(dets[i]["polygon"][k][0].get<double>(), corners[k].x, 0.005 + 1e-4);
      EXPECT_NEAR(dets[i]["polygon"][k][1].get<double>(), corners[k].y, 0.005 + 1e-4);
    }
  }
  std::ifstream labels(txt + "/good.txt");
  const std::string text((std::istreambuf_iterator<char>(labels)),
                         std::istreambuf_iterator<char>());
  const std::vector<vision::YoloTxtObb> lines = vision::parse_yolo_txt_obb(text);
  ASSERT_EQ(lines.size(), want.detections.size()) << text;
  for (size_t i = 0; i < lines.size(); ++i) {
    const vision::Detection& w = want.detections[i];
    EXPECT_EQ(lines[i].class_id, w.class_id);
    EXPECT_NEAR(lines[i].conf, w.score, 1e-6);
    const auto corners = vision::rbox_corners(*w.rbox);
    for (size_t k = 0; k < 4; ++k) {
      EXPECT_NEAR(lines[i].corners[k].x * 80, corners[k].x, 1e-4) << i;
      EXPECT_NEAR(lines[i].corners[k].y * 48, corners[k].y, 1e-4) << i;
    }
  }
  const cv::Mat drawn = cv::imread(saved + "/good.jpg");
  EXPECT_EQ(drawn.size(), cv::Size(80, 48));

  // Without metadata the shape reads as a 16-class detect model; --task obb decodes it.
  ho.metadata = false;
  const std::string bare = f("head_obb_bare.onnx");
  save_bytes(bare, build_head_onnx(ho));
  r = run_shoal("detect " + bare + " " + f("good.jpg") + " --json --task obb");
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json bare_dets = nlohmann::json::parse(r.out).at(0).at("detections");
  ASSERT_EQ(bare_dets.size(), want.detections.size());
  EXPECT_EQ(bare_dets[0]["rbox"], dets[0]["rbox"]);
  r = run_shoal("detect " + bare + " " + f("good.jpg"));
  EXPECT_NE(r.out.find("ultralytics detect, 16 classes"), std::string::npos) << r.out;

  // A detect model forced to obb: refused, naming the shape and what it looks like.
  r = run_shoal("detect " + model() + " " + f("good.jpg") + " --task obb");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("task obb (from --task)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("[1,7,84]"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--task detect"), std::string::npos) << r.err;
}

// Quantizing the generated detector: undecodable files are skipped and counted, the table says
// which convs stayed float and why, and the file it writes loads as int8 convolutions.
TEST_F(VisionCli, QuantizeWritesAQdqModel) {
  const std::string out = f("tiny.int8.onnx");
  ProcessRun r = run_shoal("quantize " + f("tiny.onnx") + " --calib " + f("folder") + " " +
                           f("good.jpg") + " " + f("text.png") + " --out " + out);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("skipped (not decoded): " + f("text.png")), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("calibrated (percentile) on 3 image(s) (1 skipped: not decoded)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("no: its input is a Softmax"), std::string::npos) << r.out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"((\d+) of (\d+) convs int8)"))) << r.out;
  const int int8_convs = std::stoi(m[1]), convs = std::stoi(m[2]);
  EXPECT_GT(int8_convs, convs / 2);
  EXPECT_LE(int8_convs, convs - 7);  // the DFL and the head's six output convs stay float
  EXPECT_NE(r.out.find("no: the output head's last conv"), std::string::npos) << r.out;
  Graph g = import_onnx_file(out);
  auto cm = CompiledModel::compile(g, CompileRequest{});
  EXPECT_EQ(cm->pass_stats().at("fuse_quantized_conv"), int8_convs);
  EXPECT_LT(fs::file_size(out), fs::file_size(f("tiny.onnx")) / 3);  // int8 weights

  r = run_shoal("quantize " + f("tiny.onnx") + " --calib " + f("text.png") + " " + f("empty.jpg") +
                " --out " + f("never.onnx"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("none of the 2 calibration image(s) could be decoded"), std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(f("never.onnx")));
  fs::create_directories(f("no_images"));
  r = run_shoal("quantize " + f("tiny.onnx") + " --calib " + f("no_images") + " --out " +
                f("never.onnx"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("no_images"), std::string::npos) << r.err;
}

// The real YOLOv8n quantized on the photos, on bus.jpg, zidane.jpg and the photos: at least 90%
// of the float detections scoring >= 0.5 have a same-class int8 partner with IoU >= 0.8 (all
// of those scoring >= 0.6), and no new detection scores >= 0.5. Detections near 0.5 can fall by
// 0.25 or below the threshold (post-training quantization with per-tensor activation scales);
// the test prints how many were found and the largest score change.
TEST_F(VisionCli, QuantizedRealYolov8nFindsWhatTheFloatModelFinds) {
  if (shared_dir().empty()) GTEST_SKIP() << "../shared not found: skipped";
  if (std::getenv("SHOAL_SKIP_SLOW")) GTEST_SKIP() << "SHOAL_SKIP_SLOW set: skipped";
  const std::string model = shared_dir() + "/models/real/yolov8n_coco.onnx";
  const std::string out = f("yolov8n.int8.onnx");
  const ProcessRun r =
      run_shoal("quantize " + model + " --calib " + shared_dir() + "/images/photos --out " + out);
  ASSERT_EQ(r.code, 0) << r.err;
  vision::Detector full = vision::Detector::open(model);
  vision::Detector q8 = vision::Detector::open(out);
  std::vector<std::string> images = {shared_dir() + "/images/bus.jpg",
                                     shared_dir() + "/images/zidane.jpg"};
  for (const auto& e : fs::directory_iterator(shared_dir() + "/images/photos")) {
    if (e.path().extension() == ".jpg" || e.path().extension() == ".png") {
      images.push_back(e.path().string());
    }
  }
  auto partner = [](const vision::Detection& d, const vision::Result& in) {
    const vision::Detection* best = nullptr;
    float best_iou = 0;
    for (const vision::Detection& o : in.detections) {
      const float iou = vision::box_iou(d.box, o.box);
      if (o.class_id == d.class_id && iou > best_iou) {
        best_iou = iou;
        best = &o;
      }
    }
    return std::pair{best, best_iou};
  };
  int compared = 0, found = 0;
  float worst = 0;
  for (const std::string& image : images) {
    SCOPED_TRACE(image);
    const vision::Result a = full.detect_file(image), b = q8.detect_file(image);
    for (const vision::Detection& d : a.detections) {
      if (d.score < 0.5f) continue;
      ++compared;
      const auto [p, iou] = partner(d, b);
      const bool ok = p && iou >= 0.8f;
      found += ok;
      if (ok) worst = std::max(worst, std::fabs(p->score - d.score));
      EXPECT_TRUE(ok || d.score < 0.6f) << d.class_name << " " << d.score << " not found";
    }
    for (const vision::Detection& d : b.detections) {
      if (d.score < 0.5f) continue;
      const auto [p, iou] = partner(d, a);
      EXPECT_TRUE(p && iou >= 0.8f && p->score >= 0.25f)
          << "new int8 detection " << d.class_name << " " << d.score;
    }
  }
  EXPECT_GE(found * 10, compared * 9) << found << " of " << compared;
  EXPECT_GE(compared, 10);
  std::printf(
      "[ int8  ] %d of %d float detections >= 0.5 found (same class, IoU >= 0.8); "
      "largest score change %.3f\n",
      found, compared, worst);
}

}  // namespace
}  // namespace shoal
