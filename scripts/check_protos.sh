#!/usr/bin/env bash
# Regenerates into a scratch folder and compares with the committed generated code.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/agentledger"
scripts/gen_protos.sh "$tmp" >/dev/null
status=0
while IFS= read -r f; do
  rel=${f#"$tmp"/}
  if ! cmp -s "$f" "$rel"; then echo "stale generated file: $rel (run 'make protos')"; status=1; fi
done < <(find "$tmp/agentledger" -type f | sort)
while IFS= read -r f; do
  [ -f "$tmp/$f" ] || { echo "generated file without a .proto: $f (run 'make protos')"; status=1; }
done < <(find agentledger -path '*/v1/*' \( -name '*_pb2*.py' -o -name '*_pb2*.pyi' \) | sort)
exit $status
