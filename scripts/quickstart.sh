#!/usr/bin/env bash
# The main job from a fresh Debian 12 machine: install packages, build, then inspect and benchmark
# a YOLO detector (../shared/models/yolov8n.onnx when present, else a built-in YOLOv8n-like model).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh shoal
MODEL="${1:-../shared/models/yolov8n.onnx}"
if [ ! -f "$MODEL" ]; then
  MODEL=build/yolov8n-like.onnx
  ./build/shoal make-model --kind detector --out "$MODEL"
fi
./build/shoal inspect "$MODEL"
./build/shoal bench "$MODEL" --threads "$(nproc)"
