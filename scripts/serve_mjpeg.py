#!/usr/bin/env python3
"""Serves a JPEG (or every JPEG of a folder, in turn) as an MJPEG-over-HTTP stream, as IP cameras
do (multipart/x-mixed-replace), to try `shoal detect` / `shoal pipeline` on a live source:

    scripts/serve_mjpeg.py ../shared/images/bus.jpg --frames 3000 --port 8765 &
    build/shoal detect MODEL.onnx http://127.0.0.1:8765/ --json

--fps 0 (the default) sends as fast as the client reads; the stream ends after --frames frames.
One client at a time."""
import argparse
import os
import socket
import time


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("image", help="a JPEG file, or a folder of them")
    p.add_argument("--frames", type=int, default=1000)
    p.add_argument("--fps", type=float, default=0.0)
    p.add_argument("--port", type=int, default=8765)
    a = p.parse_args()
    if os.path.isdir(a.image):
        names = sorted(n for n in os.listdir(a.image) if n.lower().endswith((".jpg", ".jpeg")))
        jpegs = [open(os.path.join(a.image, n), "rb").read() for n in names]
    else:
        jpegs = [open(a.image, "rb").read()]
    if not jpegs:
        raise SystemExit(f"no JPEG files in {a.image}")
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", a.port))
    server.listen(1)
    print(f"serving {len(jpegs)} JPEG(s) at http://127.0.0.1:{a.port}/", flush=True)
    client, _ = server.accept()
    client.recv(65536)
    client.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace;boundary=frame\r\n"
                   b"Cache-Control: no-cache\r\n\r\n")
    start = time.monotonic()
    try:
        for i in range(a.frames):
            if a.fps > 0:
                time.sleep(max(0.0, start + i / a.fps - time.monotonic()))
            jpg = jpegs[i % len(jpegs)]
            client.sendall(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                           % len(jpg) + jpg + b"\r\n")
        client.sendall(b"--frame--\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client stopped reading (e.g. --frames)
    client.close()


if __name__ == "__main__":
    main()
