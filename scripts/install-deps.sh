#!/usr/bin/env bash
# Installs the Debian 12 packages Shoal builds and tests with (run as root; idempotent).
set -euo pipefail
PKGS=(cmake ninja-build g++ clang-14 clang-format-14 libclang-rt-14-dev libomp-14-dev ccache
      pkg-config libdnnl-dev libonnx-dev libprotobuf-dev protobuf-compiler libonnx-testdata
      libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev libopencv-videoio-dev
      libjpeg62-turbo-dev
      libcpp-httplib-dev nlohmann-json3-dev libyaml-cpp-dev libspdlog-dev libfmt-dev
      libcli11-dev libxxhash-dev libgtest-dev libgmock-dev libbenchmark-dev chromium curl
      libfreetype-dev fonts-dejavu-core)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
