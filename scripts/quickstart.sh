#!/usr/bin/env bash
# The main job from a fresh Debian 12 machine: install packages, build, inspect and benchmark a YOLO
# detector (../shared/models/yolov8n.onnx when present, else a built-in YOLOv8n-like model), then
# plan several models under one memory budget.
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
# Several models under one memory budget: the navigation aid of examples/navigation.yaml when the
# shared models are there, else two built-in detectors sharing a backbone.
if [ -f ../shared/models/yolov8n-seg.onnx ]; then
  ./build/shoal plan --config examples/navigation.yaml
else
  ./build/shoal make-model --kind detector --seed 1 --out build/det_a.onnx
  ./build/shoal make-model --kind detector --seed 2 --out build/det_b.onnx
  printf 'memory_budget: 256MiB\nmodels:\n  - {name: a, path: det_a.onnx}\n  - {name: b, path: det_b.onnx}\n' \
    > build/quickstart.yaml
  ./build/shoal plan --config build/quickstart.yaml
fi
