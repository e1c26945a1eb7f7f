"""`shoal serve` with one model named `m`, for the server benchmarks (bench_server.py,
server_memory.py): writes the config, starts the server, waits until it is ready, and stops it
when the `with` block ends."""
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import urllib.request


@contextlib.contextmanager
def serve_one_model(build, model, port, threads, model_yaml="", budget="1GiB"):
    """Yields (url, process). `model_yaml`: more of the model's config lines, 4-space indented."""
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "models.yaml")
        with open(config, "w") as f:
            f.write(f"memory_budget: {budget}\nmodels:\n  - name: m\n"
                    f"    path: {os.path.abspath(model)}\n{model_yaml}")
        server = subprocess.Popen([os.path.join(build, "shoal"), "serve", "--config", config,
                                   "--port", str(port), "--threads", str(threads)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    if urllib.request.urlopen(url + "/v2/health/ready", timeout=1).status == 200:
                        break
                except OSError:
                    time.sleep(0.1)
            else:
                sys.exit("the server did not become ready")
            yield url, server
        finally:
            server.terminate()
            server.wait(timeout=60)
