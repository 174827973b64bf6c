#!/usr/bin/env bash
# Longer fuzz passes than CI's: every target of tests/Vigil.Fuzz.Tests for SECONDS each (default 600).
# Usage: tests/fuzz.sh [SECONDS] [target filter, e.g. OtlpFuzzTests]
# A failure prints the shrunk input and a CsCheck seed; replay it with CsCheck_Seed=SEED tests/fuzz.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
filter="${2:-Vigil.Fuzz.Tests}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 VIGIL_FUZZ_SECONDS="$seconds"
dotnet test tests/Vigil.Fuzz.Tests -c Release --filter "FullyQualifiedName~$filter" \
  --blame-hang-timeout "$((seconds * 3 + 120))s" --logger "console;verbosity=normal"
