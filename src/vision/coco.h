// The COCO dataset's class names, in the order YOLO models trained on COCO emit them: the names a
// detector falls back to when its model carries none. Knows nothing about models or sessions.
#pragma once

#include <string>
#include <vector>

namespace shoal::vision {

const std::vector<std::string>& coco_names();

}  // namespace shoal::vision
