#!/usr/bin/env bash
# Runs every Vigil test on a bare machine: installs what the tests need, restores, builds, tests.
# Usage: tests/run.sh [extra dotnet test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v dotnet >/dev/null 2>&1; then
  echo "tests/run.sh: the .NET 10 SDK is required (https://dot.net); dotnet is not on PATH" >&2
  exit 1
fi

# System packages the integration tests drive as real processes (installed only when missing).
need=()
for pkg in $(cat tests/apt-packages.txt 2>/dev/null | grep -v '^#' || true); do
  # "install ok installed" only: a removed package whose config files remain still answers dpkg -s.
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "tests/run.sh: installing ${need[*]}"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  # A mirror hiccup should not fail the run: retry a few times before giving up.
  for attempt in 1 2 3; do
    if $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need[@]}"; then
      break
    fi
    [ "$attempt" = 3 ] && { echo "tests/run.sh: could not install ${need[*]}" >&2; exit 1; }
    sleep $((attempt * 10))
  done
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet restore Vigil.slnx
dotnet build Vigil.slnx --no-restore -c Release -warnaserror
log=$(mktemp)
status=0
dotnet test Vigil.slnx --no-build -c Release "$@" 2>&1 | tee "$log" || status=$?

# One closing line for CI: totals over every test project.
awk '/(Passed|Failed)! +- +Failed: +[0-9]+, +Passed: +[0-9]+/ {
       for (i = 1; i <= NF; i++) { if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) }
     }
     END { gsub(",", "", f); printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$log"
rm -f "$log"
exit $status
