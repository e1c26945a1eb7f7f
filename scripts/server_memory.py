#!/usr/bin/env python3
"""The server's resident memory over many requests and after an unload.

Starts `shoal serve` with one model that is not pinned (the first request loads it), records
VmRSS and RssAnon of the server process when it is ready (the pre-load baseline), after a
warm-up load, after at least --requests more detect requests, and after
`POST /v2/repository/models/<name>/unload`; prints the table and the two ratios the server is
held to (RSS across the requests after warm-up, RSS after the unload against the baseline).

  scripts/server_memory.py --model /tmp/small.onnx --image ../shared/images/bus.jpg \\
      --requests 10000 --clients 4
"""
import argparse
import json
import re
import subprocess
import time
import urllib.request

from serve_one import serve_one_model


def status(pid):
    with open(f"/proc/{pid}/status") as f:
        text = f.read()
    kib = lambda key: int(re.search(rf"^{key}:\s+(\d+) kB", text, re.M).group(1))
    return kib("VmRSS") / 1024, kib("RssAnon") / 1024


def loadgen(args, url, seconds):
    cmd = [f"{args.build}/shoal_loadgen", "--url", url, "--path", "/v1/models/m/detect",
           "--file", args.image, "--clients", str(args.clients), "--seconds", str(seconds),
           "--json"]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--build", default="build")
    ap.add_argument("--requests", type=int, default=10000, help="detect requests after warm-up")
    ap.add_argument("--warmup-seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--port", type=int, default=8141)
    args = ap.parse_args()

    with serve_one_model(args.build, args.model, args.port, args.threads,
                         budget="512MiB") as (url, server):
        time.sleep(1)
        rows = [("ready, nothing loaded", 0, *status(server.pid))]
        done = loadgen(args, url, args.warmup_seconds)
        total = done["requests"]
        failed = done["failed"]
        rows.append(("after the warm-up", total, *status(server.pid)))
        after_warmup = total
        while total - after_warmup < args.requests:
            rate = max(done["requests"] / max(done["seconds"], 1e-3), 1.0)
            left = args.requests - (total - after_warmup)
            done = loadgen(args, url, min(max(left / rate * 1.05, 2), 120))
            total += done["requests"]
            failed += done["failed"]
            rows.append(("requests so far", total, *status(server.pid)))
        req = urllib.request.Request(url + "/v2/repository/models/m/unload", data=b"{}",
                                     method="POST")
        urllib.request.urlopen(req, timeout=30)
        time.sleep(1)
        rows.append(("after unloading", total, *status(server.pid)))

    print("| moment | requests | VmRSS MiB | RssAnon MiB |")
    print("| --- | ---: | ---: | ---: |")
    for name, n, rss, anon in rows:
        print(f"| {name} | {n} | {rss:.2f} | {anon:.2f} |")
    base, warm, last, unloaded = rows[0][2], rows[1][2], rows[-2][2], rows[-1][2]
    print(f"\n{failed} failed requests; RSS across {total - after_warmup} requests after warm-up: "
          f"{(last / warm - 1) * 100:+.1f}%; after unloading against the baseline: "
          f"{(unloaded / base - 1) * 100:+.1f}%")


if __name__ == "__main__":
    main()
