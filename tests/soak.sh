#!/usr/bin/env bash
# Soak test: ingest + rules + webhook delivery on loopback for minutes, kill -9 and restart halfway;
# fails unless no acknowledged point was lost, the collector's RSS stayed under the ceiling and every
# alert event reached the webhook. Bounded: at most 30 minutes of load (default 5), then ~3 of checks.
# Usage: tests/soak.sh [--duration 5m] [--memory-ceiling 1024] [--series 20000] [--concurrency 4] [--keep-data]
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build collector -c Release -warnaserror -v quiet -nologo
dotnet build tests/Vigil.LoadTool -c Release -warnaserror -v quiet -nologo
timeout 45m dotnet tests/Vigil.LoadTool/bin/Release/net10.0/vigil-load.dll soak "$@"
