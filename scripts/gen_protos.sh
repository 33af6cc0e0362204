#!/usr/bin/env bash
# Regenerates the committed Python code of every .proto under protos/ into agentledger/.
# The .proto path equals the import path: protos/agentledger/x/v1/y.proto -> agentledger.x.v1.y_pb2
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
out=${1:-.}
mapfile -t protos < <(cd protos && find agentledger -name '*.proto' | sort)
# Remove what an earlier run generated, so a deleted .proto leaves nothing behind.
find "$out/agentledger" -path '*/v1/*' \( -name '*_pb2*.py' -o -name '*_pb2*.pyi' \) -delete 2>/dev/null || true
"$PY" -m grpc_tools.protoc -Iprotos --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" "${protos[@]}"
for p in "${protos[@]}"; do
  d=$(dirname "$p")
  while [ "$d" != "agentledger" ] && [ "$d" != "." ]; do
    [ -f "$out/$d/__init__.py" ] || : > "$out/$d/__init__.py"
    d=$(dirname "$d")
  done
done
