#!/usr/bin/env bash
# Layer check (DESIGN.md, "Layers"): reads every `#include "..."` under src/ and fails, naming
# file:line and the rule, when a file includes a layer it may not use: one above it, a sibling
# (vision and manager; onnx and memory) or a lower one that its row of the table leaves out.
# Within a layer, a subfolder (backend/cpu, backend/reference, graph/passes) is private: files in
# another subfolder or another layer include only the layer's top-level headers
# (backend/backend.h), never src/<layer>/<sub>/... ; top-level files of the layer may.
# Usage: scripts/check_layers.sh [--list] [SRC_DIR]   (SRC_DIR holds the layer folders; default
# src). --list prints the matrix. Needs bash, find, grep, awk and sed only.
set -euo pipefail

# The allowed matrix: DESIGN.md's "may use" column, read as a whitelist (a layer includes its own
# headers and those of the layers listed on its row, nothing else). Rank is the height in the
# table; it only words the message (above / sibling / not listed).
#   vision:  DESIGN lists runtime, core; it also reads model metadata with the importer's
#            parser (onnx/metadata.h: DESIGN gives model metadata to onnx/), so onnx is on its row.
#   service: DESIGN lists vision, manager, runtime; the lower layers are allowed too ("and below").
#   server:  "service and below". tools: everything ('*').
# A folder under src/ that is not in this table fails the check until it is added here.
MATRIX='
# layer    rank  may include (besides itself)
core       0     -
graph      1     core
onnx       2     graph core
memory     2     core
backend    3     graph memory core
runtime    4     backend onnx memory graph core
vision     5     runtime onnx core
manager    5     runtime memory core
service    6     vision manager runtime backend onnx memory graph core
server     7     service vision manager runtime backend onnx memory graph core
model_builder 3  onnx graph core
tools      8     *
'

cd "$(dirname "$0")/.."
list=0
src=src
for arg in "$@"; do
  case "$arg" in
    --list) list=1 ;;
    -h | --help)
      sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    -*)
      echo "check_layers: unknown option $arg (try --help)" >&2
      exit 2
      ;;
    *) src="${arg%/}" ;;
  esac
done

if ((list)); then
  echo "Layer rules (scripts/check_layers.sh; DESIGN.md's table):"
  printf '%s\n' "$MATRIX" | sed '/^$/d; s/^# //'
  echo "Subfolders (<layer>/<sub>/) are private to their layer's top level and to themselves."
  exit 0
fi

if [ ! -d "$src" ]; then
  echo "check_layers: no directory $src" >&2
  exit 2
fi

# Every quoted include, as "file:line:text", in a stable order.
includes=$(find "$src" -type f \( -name '*.h' -o -name '*.hpp' -o -name '*.cpp' -o -name '*.cc' \
  -o -name '*.def' -o -name '*.inc' \) -print0 | LC_ALL=C sort -z |
  xargs -0 -r grep -nH -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[^"]+"' || true)
# Every file, to resolve includes written relative to the including file.
files=$(find "$src" -type f -print)

printf '%s\n' "$includes" | SRC="$src" FILES="$files" MATRIX="$MATRIX" awk '
BEGIN {
  src = ENVIRON["SRC"]
  n = split(ENVIRON["MATRIX"], rows, "\n")
  for (i = 1; i <= n; ++i) {
    if (rows[i] ~ /^[[:space:]]*(#|$)/) continue
    k = split(rows[i], f, /[[:space:]]+/)
    layer = f[1]
    known[layer] = 1
    rank[layer] = f[2] + 0
    uses[layer] = ""
    for (j = 3; j <= k; ++j) {
      if (f[j] == "" || f[j] == "-") continue
      allowed[layer, f[j]] = 1
      uses[layer] = uses[layer] (uses[layer] == "" ? "" : " ") f[j]
      if (f[j] == "*") any[layer] = 1
    }
    if (uses[layer] == "") uses[layer] = "nothing"
  }
  m = split(ENVIRON["FILES"], fl, "\n")
  for (i = 1; i <= m; ++i) exists[fl[i]] = 1
  prefix = src "/"
  bad = 0
  # Every folder of src/ is a layer of the matrix.
  for (i = 1; i <= m; ++i) {
    rel = substr(fl[i], length(prefix) + 1)
    if (index(rel, "/") == 0) {
      printf "%s: outside every layer folder; move it into one\n", fl[i]
      ++bad
      continue
    }
    d = rel; sub(/\/.*/, "", d)
    if (!(d in known) && !(d in unknown)) {
      unknown[d] = 1
      printf "%s/%s/: not a layer in the matrix of scripts/check_layers.sh; add its row\n", \
             src, d
      ++bad
    }
  }
}
# Collapses "a/./b" and "a/x/../b".
function normalize(p,    parts, k, i, out, top) {
  k = split(p, parts, "/")
  top = 0
  for (i = 1; i <= k; ++i) {
    if (parts[i] == "." || parts[i] == "") continue
    if (parts[i] == ".." && top > 0) { --top; continue }
    out[++top] = parts[i]
  }
  p = ""
  for (i = 1; i <= top; ++i) p = p (i > 1 ? "/" : "") out[i]
  return p
}
function report(msg) {
  printf "%s:%s: %s\n", file, line, msg
  ++bad
}
{
  # file:line:text (file names under src/ hold no colons)
  file = $0; sub(/:.*/, "", file)
  rest = substr($0, length(file) + 2)
  line = rest; sub(/:.*/, "", line)
  text = substr(rest, length(line) + 2)
  inc = text; sub(/^[^"]*"/, "", inc); sub(/".*/, "", inc)

  rel = substr(file, length(prefix) + 1)       # e.g. backend/cpu/conv.cpp
  nf = split(rel, fp, "/")
  from = fp[1]
  from_sub = nf > 2 ? fp[2] : ""

  # The included file, relative to src/: as written, else relative to the including file; an
  # include naming no file under src/ is not ours (a system or generated header) and is skipped.
  dir = rel; sub(/[^\/]*$/, "", dir)
  if ((prefix normalize(inc)) in exists) target = normalize(inc)
  else if ((prefix normalize(dir inc)) in exists) target = normalize(dir inc)
  else next
  nt = split(target, tp, "/")
  to = tp[1]
  to_sub = nt > 2 ? tp[2] : ""

  if (!(from in known) || !(to in known)) next  # reported above
  if (to != from && !(from in any) && !((from, to) in allowed)) {
    if (rank[to] > rank[from]) why = to " is a layer above " from
    else if (rank[to] == rank[from]) why = to " and " from " are siblings"
    else why = to " is below " from " but not on its row"
    report(from " includes " target ": " why " (" from " may use: " uses[from] ")")
    next
  }
  if (to_sub != "") {
    if (to != from) {
      report(from " includes " target ": " to "/" to_sub "/ is internal to " to "/; use the " \
             "top-level " to "/*.h")
    } else if (from_sub != "" && from_sub != to_sub) {
      report(from "/" from_sub " includes " target ": " to "/" to_sub "/ is internal; " \
             "siblings share code through the top-level " to "/*.h")
    }
  }
}
END {
  if (bad) {
    printf "check_layers: %d violation(s) of the layer rules (DESIGN.md; the matrix: " \
           "scripts/check_layers.sh --list)\n", bad
    exit 1
  }
  print "check_layers: ok"
}
'
