#!/usr/bin/env bash
# The compose stack (docker-compose.yml) without Docker: Vigil (the built collector, with the demo traffic),
# Prometheus, Alertmanager and VictoriaMetrics as local processes on 127.0.0.1, from the same otel-config/ files.
# The files name compose services (vigil:9190, alertmanager:9093, victoria:8428); loopback copies are written at
# start with those names replaced by 127.0.0.1 and the ports below. docs/deployment.md, "The stack without Docker".
#
#   otel-config/run-local.sh [start]   start everything and stay in the foreground; Ctrl-C or TERM stops it all
#   otel-config/run-local.sh stop      stop the stack started with the same VIGIL_LOCAL_DIR (from another shell)
#
# Settings (environment; defaults in brackets, ports chosen away from the compose stack's):
#   VIGIL_LOCAL_DIR        configs, data and logs ($TMPDIR/vigil-local)
#   VIGIL_OTLP_GRPC_PORT [24317]  VIGIL_OTLP_HTTP_PORT [24318]  VIGIL_HTTP_PORT [29190]
#   PROMETHEUS_PORT [29090]  ALERTMANAGER_PORT [29093]  VICTORIA_PORT [28428]
#   VIGIL_DLL              the built collector (collector/bin/Release/net10.0/vigil.dll: dotnet build collector -c Release)
#   VIGIL_DEMO_ARGS        extra demo flags, e.g. "--demo-scenario-length 60" (none)
#   PROMETHEUS_BIN, ALERTMANAGER_BIN, VICTORIA_BIN   the binaries (prometheus; prometheus-alertmanager or
#                          alertmanager; victoria-metrics or victoria-metrics-prod, whichever is on PATH)
#   READY_TIMEOUT          seconds to wait for each process to answer (60)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
dir="${VIGIL_LOCAL_DIR:-${TMPDIR:-/tmp}/vigil-local}"
: "${VIGIL_OTLP_GRPC_PORT:=24317}" "${VIGIL_OTLP_HTTP_PORT:=24318}" "${VIGIL_HTTP_PORT:=29190}"
: "${PROMETHEUS_PORT:=29090}" "${ALERTMANAGER_PORT:=29093}" "${VICTORIA_PORT:=28428}"
: "${VIGIL_DLL:=$repo/collector/bin/Release/net10.0/vigil.dll}" "${VIGIL_DEMO_ARGS:=}" "${READY_TIMEOUT:=60}"

first_on_path() {
  for candidate in "$@"; do
    if command -v "$candidate" >/dev/null 2>&1; then
      echo "$candidate"
      return
    fi
  done
  echo "$1"
}
: "${PROMETHEUS_BIN:=$(first_on_path prometheus)}"
: "${ALERTMANAGER_BIN:=$(first_on_path prometheus-alertmanager alertmanager)}"
: "${VICTORIA_BIN:=$(first_on_path victoria-metrics victoria-metrics-prod)}"

say() { echo "run-local: $*"; }

# True when PID is alive and its command line mentions WORD: a pid file never makes us signal someone else's process.
ours() {
  local pid="$1" word="$2"
  kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$word"
}

# TERM every process in $dir/pids, KILL what is left after 10 s; idempotent.
stop_children() {
  [ -f "$dir/pids" ] || return 0
  local name pid alive
  while read -r name pid; do
    if ours "$pid" "$dir"; then kill -TERM "$pid" 2>/dev/null || true; fi
  done <"$dir/pids"
  for _ in $(seq 1 100); do
    alive=0
    while read -r name pid; do
      if ours "$pid" "$dir"; then alive=1; fi
    done <"$dir/pids"
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  while read -r name pid; do
    if ours "$pid" "$dir"; then
      say "$name ($pid) did not stop on TERM: KILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done <"$dir/pids"
  # In the foreground script they are its children: reap them, so none is left as a zombie.
  wait 2>/dev/null || true
  rm -f "$dir/pids"
}

stop() {
  local main=""
  if [ ! -f "$dir/run-local.pid" ] && [ ! -f "$dir/pids" ]; then
    say "nothing running under $dir"
    return 0
  fi
  [ -f "$dir/run-local.pid" ] && main="$(cat "$dir/run-local.pid")"
  if [ -n "$main" ] && ours "$main" run-local.sh; then
    # The foreground script's trap stops its children; wait for it to finish.
    kill -TERM "$main"
    for _ in $(seq 1 150); do
      ours "$main" run-local.sh || break
      sleep 0.1
    done
  fi
  stop_children
  rm -f "$dir/run-local.pid"
  say "stopped (logs in $dir/logs)"
}

launch() {
  local name="$1"
  shift
  "$@" >"$dir/logs/$name.log" 2>&1 &
  echo "$name $!" >>"$dir/pids"
}

wait_http() {
  local name="$1" url="$2"
  for _ in $(seq 1 $((READY_TIMEOUT * 5))); do
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  say "$name did not answer $url within ${READY_TIMEOUT}s; its log:"
  tail -n 30 "$dir/logs/$name.log" >&2 || true
  exit 1
}

need() {
  command -v "$1" >/dev/null 2>&1 || { say "$1 not found: $2"; exit 1; }
}

start() {
  need curl "install curl"
  need dotnet "install the .NET 10 SDK"
  need "$PROMETHEUS_BIN" "install prometheus (Debian: apt-get install prometheus) or set PROMETHEUS_BIN"
  need "$ALERTMANAGER_BIN" "install prometheus-alertmanager or set ALERTMANAGER_BIN"
  need "$VICTORIA_BIN" "install victoria-metrics or set VICTORIA_BIN"
  [ -f "$VIGIL_DLL" ] || { say "$VIGIL_DLL is missing: dotnet build collector -c Release (or set VIGIL_DLL)"; exit 1; }
  if [ -f "$dir/run-local.pid" ] && ours "$(cat "$dir/run-local.pid")" run-local.sh; then
    say "already running under $dir: otel-config/run-local.sh stop"
    exit 1
  fi

  mkdir -p "$dir/conf" "$dir/logs"
  : >"$dir/pids"
  echo $$ >"$dir/run-local.pid"
  trap 'stop_children; rm -f "$dir/run-local.pid"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  # Loopback variants of the compose files: only the service addresses change.
  sed -e "s#vigil:9190#127.0.0.1:$VIGIL_HTTP_PORT#g" -e "s#localhost:9090#127.0.0.1:$PROMETHEUS_PORT#g" \
    "$here/prometheus/prometheus.yml" >"$dir/conf/prometheus.yml"
  cp "$here/alertmanager/alertmanager.yml" "$dir/conf/alertmanager.yml"
  sed -e "s#http://alertmanager:9093#http://127.0.0.1:$ALERTMANAGER_PORT#g" -e "s#http://victoria:8428#http://127.0.0.1:$VICTORIA_PORT#g" \
    "$here/vigil/vigil.yaml" >"$dir/conf/vigil.yaml"

  launch victoria "$VICTORIA_BIN" "-httpListenAddr=127.0.0.1:$VICTORIA_PORT" "-storageDataPath=$dir/victoria-data" -retentionPeriod=30d
  launch alertmanager "$ALERTMANAGER_BIN" "--config.file=$dir/conf/alertmanager.yml" "--storage.path=$dir/alertmanager-data" \
    "--web.listen-address=127.0.0.1:$ALERTMANAGER_PORT" --cluster.listen-address=
  launch prometheus "$PROMETHEUS_BIN" "--config.file=$dir/conf/prometheus.yml" "--storage.tsdb.path=$dir/prometheus-data" \
    "--web.listen-address=127.0.0.1:$PROMETHEUS_PORT"
  wait_http victoria "http://127.0.0.1:$VICTORIA_PORT/health"
  wait_http alertmanager "http://127.0.0.1:$ALERTMANAGER_PORT/-/ready"
  # shellcheck disable=SC2086 # VIGIL_DEMO_ARGS is a list of flags
  launch vigil dotnet "$VIGIL_DLL" --config "$dir/conf/vigil.yaml" --data-dir "$dir/vigil-data" --rules "$repo/rules" \
    --otlp-grpc "127.0.0.1:$VIGIL_OTLP_GRPC_PORT" --otlp-http "127.0.0.1:$VIGIL_OTLP_HTTP_PORT" --http "127.0.0.1:$VIGIL_HTTP_PORT" \
    --demo $VIGIL_DEMO_ARGS
  wait_http vigil "http://127.0.0.1:$VIGIL_HTTP_PORT/readyz"
  wait_http prometheus "http://127.0.0.1:$PROMETHEUS_PORT/-/ready"

  say "up; logs in $dir/logs"
  say "  vigil         OTLP 127.0.0.1:$VIGIL_OTLP_GRPC_PORT (gRPC) / :$VIGIL_OTLP_HTTP_PORT (HTTP), API http://127.0.0.1:$VIGIL_HTTP_PORT"
  say "  prometheus    http://127.0.0.1:$PROMETHEUS_PORT"
  say "  alertmanager  http://127.0.0.1:$ALERTMANAGER_PORT"
  say "  victoria      http://127.0.0.1:$VICTORIA_PORT"
  say "Ctrl-C or otel-config/run-local.sh stop ends them all"

  # wait -n returns when any of them exits (and lets the signal traps run meanwhile): one gone means the stack is broken.
  set +e
  wait -n
  set -e
  say "a process exited; stopping the rest. Logs in $dir/logs"
  exit 1
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 [start|stop]" >&2; exit 2 ;;
esac
