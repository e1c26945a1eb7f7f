// One run of the image path on a small synthetic picture: JPEG and PNG decoding, letterboxing
// into a float tensor, drawing boxes, labels, a mask and keypoints, and JPEG encoding. A service
// calls it once before it reports ready, so that the libraries' code these steps page in
// (libjpeg, libpng, OpenCV's resize and drawing) is part of its resident set from the start:
// the first request does not pay for it, and after everything is unloaded the resident set
// returns to what it was when ready.
#pragma once

namespace shoal::vision {

void warm_up_image_path();

}  // namespace shoal::vision
