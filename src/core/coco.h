// The 80 COCO class names, in the order YOLO models trained on COCO emit them.
#pragma once

#include <string>
#include <vector>

namespace shoal {

const std::vector<std::string>& coco_names();

}  // namespace shoal
