#!/usr/bin/env python3
"""Headless-browser check of the server's live status page (src/server/status_page.html).

Usage: scripts/test_status_page.py --url http://127.0.0.1:PORT/ --expect-models a,b,c [--screenshot out.png]

Loads URL in headless chromium (--dump-dom, 5 s of virtual time so the page's 1 s polls of v1/status
have run), parses the DOM and checks that every expected model has a <tr data-model=NAME> row whose
data-state is one of the allowed states and whose data-bytes (weights) is an integer. It then
fetches v1/status itself and checks the DOM's state and weights bytes of every model against the
JSON (a model may change state during the run, so the JSON is fetched before and after the browser
and a DOM value matching either is accepted). With --screenshot it also saves a 1280x900 PNG.

Python 3 standard library only; needs chromium (default /usr/bin/chromium, or --chromium / $CHROMIUM).
Exit status: 0 on success, 1 on failure (with a message naming the model and what is wrong).
"""
import argparse
import html.parser
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request

STATES = {"resident", "loading", "evicted", "failed", "registered"}
TIMEOUT_S = 60


class Failure(Exception):
    pass


class RowParser(html.parser.HTMLParser):
    """Collects, per <tr data-model>, the first data-state and the first data-bytes inside it,
    plus the connection indicator (#conn data-connection)."""

    def __init__(self):
        super().__init__()
        self.rows = {}  # name -> {"state": str|None, "bytes": str|None}
        self.duplicates = set()
        self.connection = None
        self._row = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id") == "conn":
            self.connection = a.get("data-connection")
        if tag == "tr":
            name = a.get("data-model")
            if name is None:
                self._row = None
                return
            if name in self.rows:
                self.duplicates.add(name)
            self._row = self.rows.setdefault(name, {"state": None, "bytes": None})
        if self._row is not None:
            if "data-state" in a and self._row["state"] is None:
                self._row["state"] = a["data-state"] or ""
            if "data-bytes" in a and self._row["bytes"] is None:
                self._row["bytes"] = a["data-bytes"] or ""

    def handle_endtag(self, tag):
        if tag in ("tr", "tbody", "table"):
            self._row = None


def chromium_cmd(chromium, profile, extra, url):
    return [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--user-data-dir=" + profile, "--virtual-time-budget=5000", *extra, url]


def run_chromium(chromium, extra, url, what):
    profile = tempfile.mkdtemp(prefix="shoal-status-chromium-")
    try:
        cmd = chromium_cmd(chromium, profile, extra, url)
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise Failure(f"chromium ({what}) did not finish within {TIMEOUT_S} s: {' '.join(cmd)}")
        except OSError as e:
            raise Failure(f"cannot run chromium ({chromium}): {e}")
        if p.returncode != 0:
            err = p.stderr.decode(errors="replace").strip()[-2000:]
            raise Failure(f"chromium ({what}) exited with status {p.returncode}:\n{err}")
        return p.stdout.decode(errors="replace")
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def fetch_status(status_url):
    try:
        with urllib.request.urlopen(urllib.request.Request(status_url, headers={"Accept": "application/json"}),
                                    timeout=10) as r:
            body = r.read()
    except (urllib.error.URLError, OSError) as e:
        raise Failure(f"GET {status_url} failed: {e}")
    try:
        status = json.loads(body)
    except ValueError as e:
        raise Failure(f"GET {status_url} did not return JSON: {e}: {body[:200]!r}")
    models = status.get("models") if isinstance(status, dict) else None
    if not isinstance(models, list):
        raise Failure(f"GET {status_url}: no 'models' array in the JSON")
    out = {}
    for m in models:
        if not isinstance(m, dict) or "name" not in m:
            raise Failure(f"GET {status_url}: model entry without a name: {m!r}")
        out[m["name"]] = m
    return out


def check(args):
    url = args.url
    status_url = urllib.parse.urljoin(url, "v1/status")
    expected = [m.strip() for m in args.expect_models.split(",") if m.strip()]
    if not expected:
        raise Failure("--expect-models names no model")

    before = fetch_status(status_url)
    dom = run_chromium(args.chromium, ["--dump-dom"], url, "dump-dom")
    after = fetch_status(status_url)

    parser = RowParser()
    parser.feed(dom)
    parser.close()
    rows = parser.rows
    problems = []
    if not rows:
        problems.append(f"the page at {url} shows no model rows (connection indicator: {parser.connection!r}; "
                        f"DOM is {len(dom)} characters)")
    if parser.duplicates:
        problems.append("models with more than one row: " + ", ".join(sorted(parser.duplicates)))

    # 1. The expected models are shown, with a valid state and an integer weights size.
    for name in expected:
        row = rows.get(name)
        if row is None:
            problems.append(f"model {name!r}: no row with data-model={name!r} on the page")
            continue
        if not row["state"]:
            problems.append(f"model {name!r}: state cell missing or data-state empty")
        elif row["state"] not in STATES:
            problems.append(f"model {name!r}: data-state={row['state']!r} is not one of {sorted(STATES)}")
        if row["bytes"] is None:
            problems.append(f"model {name!r}: weights cell with data-bytes missing")
        else:
            try:
                int(row["bytes"])
            except ValueError:
                problems.append(f"model {name!r}: data-bytes={row['bytes']!r} is not an integer")
        if name not in before and name not in after:
            problems.append(f"model {name!r}: not in {status_url}")

    # 2. What the page shows agrees with /v1/status, for every model the server reports.
    for name in sorted(set(before) | set(after)):
        row = rows.get(name)
        if row is None:
            if name not in expected:  # already reported for expected models
                problems.append(f"model {name!r}: in {status_url} but no row on the page")
            continue
        snaps = [s[name] for s in (before, after) if name in s]
        states = {str(s.get("state")) for s in snaps}
        if row["state"] and row["state"] not in states:
            problems.append(f"model {name!r}: page shows state {row['state']!r}, "
                            f"{status_url} says {' / '.join(sorted(states))}")
        wbytes = {s.get("weights_bytes") for s in snaps}
        try:
            shown = int(row["bytes"]) if row["bytes"] is not None else None
        except ValueError:
            shown = None  # reported above
        if shown is not None and shown not in wbytes:
            problems.append(f"model {name!r}: page shows weights data-bytes={shown}, "
                            f"{status_url} says weights_bytes={' / '.join(str(w) for w in wbytes)}")
    for name in sorted(set(rows) - set(before) - set(after)):
        problems.append(f"model {name!r}: row on the page but not in {status_url}")

    if problems:
        raise Failure("status page check failed:\n  " + "\n  ".join(problems))
    print(f"status page OK: {len(rows)} model rows, expected {', '.join(expected)} present "
          f"and matching {status_url}")

    if args.screenshot:
        path = os.path.abspath(args.screenshot)
        if os.path.exists(path):
            os.remove(path)
        run_chromium(args.chromium, ["--screenshot=" + path, "--window-size=1280,900", "--hide-scrollbars"],
                     url, "screenshot")
        if not os.path.isfile(path) or os.path.getsize(path) == 0:
            raise Failure(f"chromium did not write the screenshot {path}")
        print(f"screenshot: {path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="status page URL, e.g. http://127.0.0.1:8080/")
    ap.add_argument("--expect-models", required=True, help="comma-separated model names that must be shown")
    ap.add_argument("--screenshot", help="also save a 1280x900 PNG screenshot here")
    ap.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"), help="chromium binary")
    args = ap.parse_args()
    try:
        check(args)
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
