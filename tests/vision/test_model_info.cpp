// Model description: Ultralytics metadata parsing (names dict, int lists, names files), family
// and task from output shapes, overrides, and clear errors when nothing tells.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <string>

#include "core/error.h"
#include "model_builder/builder.h"
#include "vision/coco.h"
#include "vision/model_info.h"

namespace shoal::vision {
namespace {

TEST(VisionModelInfo, ParsesNamesDict) {
  auto m = parse_names_dict("{0: 'person', 1: \"men's bike\", 2: 'a\\'b', 10: 'ten',}");
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0], "person");
  EXPECT_EQ(m[1], "men's bike");
  EXPECT_EQ(m[2], "a'b");
  EXPECT_EQ(m[10], "ten");
  EXPECT_TRUE(parse_names_dict("{}").empty());
  EXPECT_THROW(parse_names_dict("[0, 1]"), Error);
  EXPECT_THROW(parse_names_dict("{0: person}"), Error);
  EXPECT_THROW(parse_names_dict("{0: 'a'"), Error);
}

// model_builder/builder.cpp keeps its own copy of the COCO names (vision/ is a layer above onnx/).
TEST(VisionModelInfo, BuilderNamesAreCoco) {
  const std::map<int, std::string> m = parse_names_dict(class_names_metadata(81));
  ASSERT_EQ(m.size(), 81u);
  ASSERT_EQ(coco_names().size(), 80u);
  for (int i = 0; i < 80; ++i) EXPECT_EQ(m.at(i), coco_names()[static_cast<size_t>(i)]) << i;
  EXPECT_EQ(m.at(80), "class80");
}

TEST(VisionModelInfo, ParsesIntLists) {
  EXPECT_EQ(parse_int_list("[640, 640]"), (std::vector<int64_t>{640, 640}));
  EXPECT_EQ(parse_int_list("32"), (std::vector<int64_t>{32}));
  EXPECT_EQ(parse_int_list("[17, 3]"), (std::vector<int64_t>{17, 3}));
  EXPECT_THROW(parse_int_list("[17, x]"), Error);
}

TEST(VisionModelInfo, NamesFile) {
  const std::string dir = testing::TempDir();
  const std::string lines = dir + "/vision_names.txt", dict = dir + "/vision_names_dict.txt";
  std::ofstream(lines) << "cat\n dog \n\nbird\n";
  std::ofstream(dict) << "{0: 'cat', 1: 'dog'}";
  EXPECT_EQ(read_names_file(lines), (std::vector<std::string>{"cat", "dog", "bird"}));
  EXPECT_EQ(read_names_file(dict), (std::vector<std::string>{"cat", "dog"}));
  EXPECT_THROW(read_names_file(dir + "/no_such_names.txt"), Error);
  // No names at all, in each form: an error, not an empty list (found by fuzz_text_formats).
  for (const char* text : {"{}", "", "\n \n", "names: []\n"}) {
    EXPECT_THROW(parse_names_text(text, "empty"), Error) << "'" << text << "'";
  }
}

// Ultralytics' data.yaml, names as a map or a list, UTF-8 names kept as they are.
TEST(VisionModelInfo, NamesFromDatasetYaml) {
  const std::string dir = testing::TempDir();
  const std::string map = dir + "/vision_data_map.yaml", list = dir + "/vision_data_list.yaml";
  std::ofstream(map) << "path: ../datasets/signs\ntrain: images/train\nval: images/val\n\n"
                        "nc: 3\nnames:\n  0: stop\n  1: crossing\n  2: \"Fußgänger\"\n";
  std::ofstream(list) << "train: a\nnames: ['stop', 'crossing', '横断歩道']\n";
  EXPECT_EQ(read_names_file(map), (std::vector<std::string>{"stop", "crossing", "Fußgänger"}));
  EXPECT_EQ(read_names_file(list), (std::vector<std::string>{"stop", "crossing", "横断歩道"}));
  auto expect_error = [&](const std::string& text, const std::string& says) {
    const std::string p = dir + "/vision_data_bad.yaml";
    std::ofstream(p) << text;
    try {
      read_names_file(p);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
    }
  };
  expect_error("names:\n  0: a\n  2: c\n", "missing 1");
  expect_error("nc: 4\nnames: [a, b]\n", "nc is 4");
  expect_error("names: [a, b\n", "not valid YAML");
  expect_error("names: 7\n", "neither a list nor a map");
}

TEST(VisionModelInfo, FromShapes) {
  // YOLOX-nano at 416: 52^2 + 26^2 + 13^2 = 3549 rows of 85.
  ModelInfo i = infer_model_info({}, {1, 3, 416, 416}, {{1, 3549, 85}}, {});
  EXPECT_EQ(i.family, Family::kYolox);
  EXPECT_EQ(i.task, Task::kDetect);
  EXPECT_EQ(i.num_classes, 80);
  EXPECT_EQ(i.names[5], "bus");
  i = infer_model_info({}, {1, 3, 640, 640}, {{1, 84, 8400}}, {});
  EXPECT_EQ(i.family, Family::kUltralytics);
  EXPECT_EQ(i.task, Task::kDetect);
  EXPECT_EQ(i.names[0], "person");
  i = infer_model_info({}, {1, 3, 640, 640}, {{1, 116, 8400}, {1, 32, 160, 160}}, {});
  EXPECT_EQ(i.task, Task::kSegment);
  EXPECT_EQ(i.num_classes, 80);
  EXPECT_EQ(i.num_masks, 32);
  i = infer_model_info({}, {1, 3, 224, 224}, {{1, 1000}}, {});
  EXPECT_EQ(i.task, Task::kClassify);
  EXPECT_EQ(i.names[999], "999");
  // Rectangular input 480 wide: 60*80 + 30*40 + 15*20 = 6300 anchors.
  i = infer_model_info({}, {1, 3, 640, 480}, {{1, 84, 6300}}, {});
  EXPECT_EQ(i.family, Family::kUltralytics);
  EXPECT_EQ(i.input_width, 480);
}

TEST(VisionModelInfo, ClearErrorsWhenNothingTells) {
  try {
    infer_model_info({}, {1, 3, 640, 640}, {{1, 7, 9}}, {});
    FAIL() << "unknown layout accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--family"), std::string::npos) << e.what();
    // The message lists the layouts it knows (test_decode_heads.cpp tests those heads).
    EXPECT_NE(std::string(e.what()).find("[B, 25200, 5+classes] for classic YOLOv5/v7"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(infer_model_info({}, {1, 1, 640, 640}, {{1, 84, 8400}}, {}), Error);
  EXPECT_THROW(infer_model_info({}, {1, 3, 640, 640}, {{1, 84, 8400}}, {"yolo9000", "", ""}),
               Error);
  EXPECT_THROW(infer_model_info({}, {1, 3, 640, 640}, {{1, 84, 8400}}, {"", "track", ""}), Error);
}

TEST(VisionModelInfo, MetadataAndFlags) {
  std::map<std::string, std::string> md = {{"task", "pose"},
                                           {"stride", "32"},
                                           {"imgsz", "[640, 640]"},
                                           {"names", "{0: 'person'}"},
                                           {"kpt_shape", "[17, 3]"}};
  ModelInfo i = infer_model_info(md, {1, 3, 640, 640}, {{1, 56, 8400}}, {});
  EXPECT_EQ(i.family, Family::kUltralytics);
  EXPECT_EQ(i.task, Task::kPose);
  EXPECT_EQ(i.num_classes, 1);
  EXPECT_EQ(i.kpt_count, 17);
  EXPECT_EQ(i.kpt_dims, 3);
  // Without metadata [1,56,8400] reads as detect with 52 classes; --task pose fixes it.
  i = infer_model_info({}, {1, 3, 640, 640}, {{1, 56, 8400}}, {});
  EXPECT_EQ(i.task, Task::kDetect);
  EXPECT_EQ(i.num_classes, 52);
  i = infer_model_info({}, {1, 3, 640, 640}, {{1, 56, 8400}}, {"", "pose", ""});
  EXPECT_EQ(i.task, Task::kPose);
  EXPECT_EQ(i.kpt_count, 17);
  // --names with the wrong count is refused.
  const std::string f = testing::TempDir() + "/vision_two_names.txt";
  std::ofstream(f) << "a\nb\n";
  EXPECT_THROW(infer_model_info({}, {1, 3, 640, 640}, {{1, 84, 8400}}, {"", "", f}), Error);
}

}  // namespace
}  // namespace shoal::vision
