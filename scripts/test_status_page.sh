#!/usr/bin/env bash
# The server as a user runs it: `shoal serve` on a free loopback port with two built-in models
# (one pinned); waits for its ready line; checks the status page in headless Chromium
# (scripts/test_status_page.py: every configured model shown with its state and bytes, and a
# screenshot in docs/status_page.png); sends detect requests with curl; then SIGTERM while a
# burst of requests is running: every request answered, exit status 0.
# Usage: scripts/test_status_page.sh [path/to/shoal]
set -euo pipefail
cd "$(dirname "$0")/.."
SHOAL="${1:-build/shoal}"
work="$(mktemp -d)"
pid=""
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$SHOAL" make-model --kind detector --imgsz 320 --seed 1 --out "$work/det.onnx" >/dev/null
"$SHOAL" make-model --kind classifier --imgsz 64 --seed 2 --out "$work/cls.onnx" >/dev/null
cat >"$work/models.yaml" <<YAML
memory_budget: 256MiB
models:
  - {name: obstacles, path: det.onnx, pinned: true}
  - {name: scene, path: cls.onnx}
pipelines:
  - {name: navigation, models: [obstacles, scene]}
server:
  drain_time: 20s
YAML

"$SHOAL" serve --config "$work/models.yaml" --port 0 >"$work/out.log" 2>"$work/err.log" &
pid=$!
url=""
for _ in $(seq 1 600); do
  url="$(grep -o 'http://[0-9.]*:[0-9]*/' "$work/out.log" || true)"
  [ -n "$url" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/err.log"; echo "shoal serve exited early"; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "shoal serve was not ready within 60 s"; exit 1; }
echo "serving at $url"

# One request so the lazy model has state and numbers to show, sent as users send it with curl
# (no Content-Type: curl labels it a form).
curl -sf -o /dev/null --data-binary @"../shared/images/bus.jpg" \
  "${url}v1/pipelines/navigation/detect" || [ ! -f ../shared/images/bus.jpg ]
python3 scripts/test_status_page.py --url "$url" --expect-models obstacles,scene \
  --screenshot docs/status_page.png

# Graceful shutdown: SIGTERM while 8 clients are sending; each must get its answer.
img="$work/img.png"
python3 - "$img" <<'PY'
import struct, sys, zlib
w = h = 64
raw = b"".join(b"\x00" + bytes(v for x in range(w) for v in (x * 4 % 256, y * 4 % 256, 128)) for y in range(h))
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY
for i in $(seq 1 8); do
  curl -s -o /dev/null -w '%{http_code}\n' -X POST --data-binary @"$img" -H 'Content-Type: image/png' \
    "${url}v1/models/obstacles/detect" >"$work/status.$i" &
done
sleep 0.05
kill -TERM "$pid"
wait_rc=0
wait "$pid" || wait_rc=$?
pid=""
wait  # the clients
bad=0
for i in $(seq 1 8); do
  code="$(cat "$work/status.$i")"
  # Sent before the listening socket closed: 200; after: refused (000). Never an error status.
  if [ "$code" != 200 ] && [ "$code" != 000 ]; then bad=1; echo "client $i got HTTP $code"; fi
done
grep -c '^200$' "$work"/status.* | awk -F: '{s+=$2} END {print s " of 8 requests answered 200 before the shutdown"}'
[ "$wait_rc" = 0 ] || { cat "$work/err.log"; echo "shoal serve exited with $wait_rc after SIGTERM"; exit 1; }
[ "$bad" = 0 ] || exit 1
echo "status page and graceful shutdown: ok"
