#!/usr/bin/env python3
"""Server throughput against bare inference, interleaved round by round.

Starts `shoal serve` with one model, then alternates a closed-loop load (build/shoal_loadgen,
N clients posting one image to /v1/models/<name>/detect) with `shoal bench` on the same model and
threads, and prints each round and the median ratio (server requests/s over bench images/s).

  scripts/bench_server.py --model ../shared/models/real/yolov8n_coco.onnx \\
      --image ../shared/images/bus.jpg --rounds 3 --seconds 20 --clients 16 --threads 2
"""
import argparse
import json
import os
import statistics
import subprocess

from serve_one import serve_one_model


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=40, help="bench runs per round")
    ap.add_argument("--port", type=int, default=8131)
    ap.add_argument("--max-batch", type=int, default=1)
    args = ap.parse_args()

    shoal = os.path.join(args.build, "shoal")
    loadgen = os.path.join(args.build, "shoal_loadgen")
    ctype = "image/png" if args.image.lower().endswith(".png") else "image/jpeg"
    extra = "    pinned: true\n"
    if args.max_batch > 1:
        extra += f"    max_batch: {args.max_batch}\n    max_queue_delay: 5ms\n"
    with serve_one_model(args.build, args.model, args.port, args.threads, extra) as (url, _):
        ratios = []
        print(f"{'round':>5}  {'server req/s':>12}  {'failed':>6}  {'p50 ms':>7}  {'p99 ms':>7}"
              f"  {'p99/p50':>7}  {'bench img/s':>11}  {'ratio':>5}")
        for r in range(args.rounds):
            lg = run_json([loadgen, "--url", url, "--path", "/v1/models/m/detect", "--file",
                           args.image, "--type", ctype, "--clients", str(args.clients),
                           "--seconds", str(args.seconds), "--json"])
            b = run_json([shoal, "bench", args.model, "--threads", str(args.threads),
                          "--runs", str(args.runs), "--json"])
            rps = lg["requests_per_second"]
            ips = b["throughput_per_s"]
            ratios.append(rps / ips)
            p50, p99 = lg["p50_ms"], lg["p99_ms"]
            print(f"{r + 1:>5}  {rps:>12.2f}  {lg['failed']:>6}  {p50:>7.0f}  {p99:>7.0f}"
                  f"  {p99 / p50:>7.2f}  {ips:>11.2f}  {rps / ips:>5.2f}")
        print(f"median ratio {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
