#!/usr/bin/env bash
# nn-core versus ONNX Runtime: one command (see README.md).
#
#   bench/nn/run.sh [--build DIR] [--baseline-build DIR] [bench.py options: --shipped --sizes --threads --variants --rounds --runs --json]
#
# 1. installs the pinned onnxruntime-node (package-lock.json) into bench/nn/node_modules;
# 2. with --shipped, takes the models in models/; otherwise exports the static-shape test
#    networks into DIR/bench-nn-models (tests/nn/make_fixtures.py --bench);
# 3. checks that the engines give the same outputs, runs them interleaved, prints the table.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build="$repo/build"
baseline=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build|--baseline-build)
      [ $# -ge 2 ] || { echo "bench-nn: $1 needs a folder" >&2; exit 2; }
      dir=$(cd "$2" && pwd)
      if [ "$1" = "--build" ]; then build=$dir; else baseline=(--baseline-cli "$dir/tools/facekp-nn"); fi
      shift 2;;
    *) break;;
  esac
done
cli="$build/tools/facekp-nn"
[ -x "$cli" ] || { echo "bench-nn: $cli not found: build first (meson setup $build && meson compile -C $build) or pass --build DIR" >&2; exit 1; }
command -v node >/dev/null || { echo "bench-nn: node is missing (scripts/install-deps.sh bench installs it)" >&2; exit 1; }

# Users' machines do not set these; here they would pin OpenBLAS to its AVX2
# kernels.  ONNX Runtime ignores them, so unsetting only makes nn-core honest.
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE

# The .npmrc next to package.json skips onnxruntime-node's GPU download.
installed="$here/node_modules/onnxruntime-node/package.json"
wanted=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dependencies"]["onnxruntime-node"])' "$here/package.json")
if [ ! -f "$installed" ] || [ "$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$installed")" != "$wanted" ]; then
  echo "installing onnxruntime-node $wanted into $here/node_modules ..."
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi

exec /usr/bin/python3 "$here/bench.py" --cli "$cli" "${baseline[@]}" --models "$build/bench-nn-models" "$@"
