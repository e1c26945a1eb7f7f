// The image endpoints' query parameters (conf, iou, max_det, classes), parsed strictly: a bad
// value is a kInvalidArgument naming the parameter and what it takes. Separate from the server
// so the request-parser fuzz target can call it.
#pragma once

#include <vector>

#include "vision/detector.h"

namespace httplib {
struct Request;
}

namespace shoal::server {

// conf and iou in [0, 1], max_det in [1, 30000], classes a comma-separated list of class ids
// (DetectorOptions::classes: only these classes are detected).
vision::DetectorOptions parse_detect_query(const httplib::Request& req);

}  // namespace shoal::server
