#!/usr/bin/env python3
"""Side-by-side latency of Shoal and ONNX Runtime 1.30 (../shared/tools/ortpeer), interleaved.

Usage: scripts/bench_vs_ort.py [--rounds 5] [--runs 30] [--threads 2] [--zoo] [MODEL.onnx ...]

For each model, alternates `shoal bench --json` and `node bench.js` ROUNDS times (so both engines
see the same machine noise) and prints a Markdown table of the medians of the per-round medians
and their ratio, then the geometric mean of the ratios. `--zoo` adds the benchmark zoo's
architectures (`shoal make-model --list-zoo`, written once into build/zoo/ at their usual input
size). Needs node/npm; installs ortpeer's npm packages into build/ortpeer once.
"""
import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("SHOAL_SHARED_DIR", os.path.join(ROOT, "..", "shared"))
DEFAULT_MODELS = ["yolov8n.onnx", "yolo11n.onnx", "yolov8n-seg.onnx", "real/yolox_nano.onnx"]


def ensure_ortpeer():
    dst = os.path.join(ROOT, "build", "ortpeer")
    if not os.path.exists(os.path.join(dst, "node_modules", "onnxruntime-node")):
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(os.path.join(SHARED, "tools", "ortpeer"), dst)
        for root, dirs, files in os.walk(dst):
            for n in dirs + files:
                os.chmod(os.path.join(root, n), 0o755)
        env = dict(os.environ, ONNXRUNTIME_NODE_INSTALL="skip")
        subprocess.run(["npm", "ci", "--silent"], cwd=dst, env=env, check=True)
    return dst


def run_json(cmd, cwd=None, env=None):
    out = subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="*")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--zoo", action="store_true", help="the benchmark zoo's architectures too")
    a = ap.parse_args()
    shoal = os.path.join(ROOT, "build", "shoal")
    models = list(a.models)
    if a.zoo:
        models += zoo_models(shoal)
    if not models:
        models = [os.path.join(SHARED, "models", m) for m in DEFAULT_MODELS]
    ortpeer = ensure_ortpeer()
    env = dict(os.environ, OMP_PROC_BIND="true", OMP_PLACES="cores")
    print(f"| model | Shoal median ms | ORT 1.30 median ms | Shoal / ORT | Shoal arena MiB | Shoal weights MiB |")
    print(f"| --- | ---: | ---: | ---: | ---: | ---: |")
    ratios = []
    for m in models:
        s_med, o_med = [], []
        last = None
        for _ in range(a.rounds):
            j = run_json([shoal, "bench", m, "--threads", str(a.threads), "--runs", str(a.runs),
                          "--json"], env=env)
            s_med.append(j["median_ms"])
            last = j
            o = run_json(["node", "bench.js", os.path.abspath(m), "--threads", str(a.threads),
                          "--runs", str(a.runs)], cwd=ortpeer)
            o_med.append(o["median_ms"])
        s, o = statistics.median(s_med), statistics.median(o_med)
        ratios.append(s / o)
        print(f"| {os.path.basename(m)} | {s:.2f} | {o:.2f} | {s / o:.2f} | "
              f"{last['arena_bytes'] / 2**20:.2f} | {last['weights_bytes'] / 2**20:.2f} |")
        sys.stdout.flush()
    if ratios:
        geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        print(f"\ngeometric mean of Shoal / ORT over {len(ratios)} models: {geo:.2f}; "
              f"slowest {max(ratios):.2f}")


def zoo_models(shoal):
    out_dir = os.path.join(ROOT, "build", "zoo")
    os.makedirs(out_dir, exist_ok=True)
    names = subprocess.run([shoal, "make-model", "--list-zoo"], check=True, capture_output=True,
                           text=True).stdout.split("\n")
    paths = []
    for line in names:
        if not line.strip():
            continue
        name = line.split()[0]
        path = os.path.join(out_dir, name + ".onnx")
        if not os.path.exists(path):
            subprocess.run([shoal, "make-model", "--zoo", name, "--out", path], check=True,
                           capture_output=True)
        paths.append(path)
    return paths


if __name__ == "__main__":
    main()
