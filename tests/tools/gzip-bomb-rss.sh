#!/usr/bin/env bash
# Measures the collector's resident memory (VmRSS) before and after a run of gzip bombs sent to
# OTLP/HTTP. Manual tool (not part of the test suite): memory depends on the machine and the GC.
# Usage: tests/tools/gzip-bomb-rss.sh [bombs=40] [parallel=4] [mib=200] [kind=zeros|sparse]
#   zeros:  MiB of zero bytes (inflates ~1000x: refused by ingest.max_decompression_ratio)
#   sparse: MiB of zeros with one random byte in every 64 (inflates ~30x: refused by ingest.max_request_size)
# Needs a Release build: dotnet build collector -c Release
set -euo pipefail
cd "$(dirname "$0")/../.."
bombs=${1:-40}
parallel=${2:-4}
mib=${3:-200}
kind=${4:-zeros}
dll=collector/bin/Release/net10.0/vigil.dll
[ -f "$dll" ] || { echo "build first: dotnet build collector -c Release" >&2; exit 1; }

work=$(mktemp -d)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
http_port=$(port); grpc_port=$(port); api_port=$(port)
dotnet "$dll" --data-dir "$work/data" --otlp-http "127.0.0.1:$http_port" --otlp-grpc "127.0.0.1:$grpc_port" --http "127.0.0.1:$api_port" >"$work/vigil.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do
  curl -fs "http://127.0.0.1:$api_port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

if [ "$kind" = sparse ]; then
  python3 -c "
import os, sys
block = bytearray(64 * 1024 * 1024)
for i in range(0, len(block), 64):
    block[i] = os.urandom(1)[0]
for _ in range($mib // 64 or 1):
    sys.stdout.buffer.write(block)
" | gzip -9 >"$work/bomb.gz"
else
  head -c "$((mib * 1024 * 1024))" /dev/zero | gzip -9 >"$work/bomb.gz"
fi
rss() { awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status"; }
post() {
  curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -H 'Content-Type: application/x-protobuf' \
    -H 'Content-Encoding: gzip' --data-binary "@$work/bomb.gz" "http://127.0.0.1:$http_port/v1/metrics"
}
export -f post; export work http_port

echo "bomb: ${mib} MiB of $kind, $(stat -c %s "$work/bomb.gz") bytes gzipped; $bombs bombs, $parallel at a time"
echo "RSS before: $(rss) MiB"
seq 1 "$bombs" | xargs -P "$parallel" -I{} bash -c post >"$work/answers"
sort "$work/answers" | awk '{codes[$1]++; t += $2; if ($2 > max) max = $2} END {for (c in codes) printf "status %s: %d\n", c, codes[c]; printf "mean %.3fs, max %.3fs per bomb\n", t / NR, max}'
echo "RSS after: $(rss) MiB"
