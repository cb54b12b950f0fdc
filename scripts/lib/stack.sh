# A throwaway local stack for one run of a client test (sourced by scripts/browser-test and
# scripts/bearer-example): ministack, `postiqo-api bootstrap`, the TikTok sandbox and the API,
# on free ports, with their logs and binary copies in one folder per run.
#
#   source scripts/lib/stack.sh
#   stack_init <name> <client port>     ports, environment, run folder (.emu/<name>-run/run-<pid>)
#   stack_start                         starts everything and waits until it answers
#   stack_stop                          (an EXIT trap) stops it; keeps the logs of a failed run
#
# It sets STACK_CLIENT_PORT (for the client's own origin, http://localhost:<it>, the only
# allowed origin), STACK_LOGS, BIN and exports every POSTIQO_*/SANDBOX_* variable the servers
# read. Extra processes started by the caller go into the stack_pids array.
# shellcheck shell=bash

stack_pids=()

stack_free_ports() {
  python3 -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])'
}

# stack_init NAME [PREFIX]: PREFIX_MINISTACK_PORT etc. override the free ports (e.g. BROWSER_).
stack_init() {
  local name=$1 prefix=${2:-}
  local p1 p2 p3 p4 var
  read -r p1 p2 p3 p4 < <(stack_free_ports)
  var=${prefix}MINISTACK_PORT; export MINISTACK_PORT=${!var:-$p1}
  var=${prefix}API_PORT; STACK_API_PORT=${!var:-$p2}
  var=${prefix}SANDBOX_PORT; STACK_SANDBOX_PORT=${!var:-$p3}
  var=${prefix}CLIENT_PORT; STACK_CLIENT_PORT=${!var:-$p4}
  mkdir -p "$ROOT/.emu/$name-run"
  find "$ROOT/.emu/$name-run" -mindepth 1 -maxdepth 1 -name 'run-*' -mmin +120 -exec rm -rf {} + 2>/dev/null || true
  export POSTIQO_EMU_RUN=$ROOT/.emu/$name-run/run-$$
  STACK_LOGS=$POSTIQO_EMU_RUN
  STACK_NAME=$name

  # This stack's values win over anything inherited (scripts/test exports its own).
  unset AWS_ENDPOINT_URL_DYNAMODB AWS_ENDPOINT_URL_S3 POSTIQO_S3_PUBLIC_ENDPOINT
  export AWS_ENDPOINT_URL=http://127.0.0.1:$MINISTACK_PORT
  export POSTIQO_BIND=127.0.0.1:$STACK_API_PORT
  # Clients reach the API as `localhost`, their own site: SameSite=Lax cookies then travel
  # with a browser's cross-origin requests, and the OAuth state cookie is where TikTok returns.
  export POSTIQO_PUBLIC_URL=http://localhost:$STACK_API_PORT
  export POSTIQO_ALLOWED_ORIGINS=http://localhost:$STACK_CLIENT_PORT
  export POSTIQO_TABLE=postiqo-$name
  export POSTIQO_BUCKET=postiqo-$name-videos
  export SANDBOX_BIND=127.0.0.1:$STACK_SANDBOX_PORT
  export POSTIQO_TIKTOK_AUTH_URL=http://$SANDBOX_BIND/v2/auth/authorize/
  export POSTIQO_TIKTOK_API_URL=http://$SANDBOX_BIND
  # Multipart from 5 MiB (S3's smallest part), so clients upload parts of a small file.
  export POSTIQO_MULTIPART_THRESHOLD_BYTES=5242880
  export POSTIQO_MULTIPART_PART_BYTES=5242880
  # Follow TikTok's processing quickly (the sandbox takes well under a second).
  export POSTIQO_POLL_INITIAL_MS=300 POSTIQO_POLL_MAX_MS=1000 POSTIQO_WORKER_INTERVAL_MS=200 POSTIQO_WORKER_IDLE_MAX_MS=1000
  # shellcheck source=scripts/local-env.sh
  source "$ROOT/scripts/local-env.sh"
  export SANDBOX_VERIFIED_URL_PREFIXES=$POSTIQO_PUBLIC_URL/v1/media/
  export SANDBOX_WEBHOOK_URL=$POSTIQO_PUBLIC_URL/v1/webhooks/tiktok
  export RUST_LOG=${RUST_LOG:-info}
  BIN=$CARGO_TARGET_DIR/debug
}

stack_wait_http() {
  for _ in $(seq 1 150); do
    curl -sf -o /dev/null -m 1 "$1" && return 0
    sleep 0.2
  done
  echo "[$STACK_NAME] timeout waiting for $1" >&2
  return 1
}

stack_start() {
  bash "$ROOT/scripts/emulators.sh" install
  mkdir -p "$STACK_LOGS/bin"
  bash "$ROOT/scripts/emulators.sh" start ministack 9>&-
  # Copies of the binaries: a build running meanwhile (cargo replaces files) cannot pull them away.
  cp "$BIN/postiqo-api" "$BIN/tiktok-sandbox" "$STACK_LOGS/bin/"
  "$STACK_LOGS/bin/postiqo-api" bootstrap > "$STACK_LOGS/bootstrap.log" 2>&1
  "$STACK_LOGS/bin/tiktok-sandbox" > "$STACK_LOGS/tiktok-sandbox.log" 2>&1 9>&- &
  stack_pids+=($!)
  "$STACK_LOGS/bin/postiqo-api" serve > "$STACK_LOGS/api.log" 2>&1 9>&- &
  stack_pids+=($!)
  stack_wait_http "http://$SANDBOX_BIND/healthz"
  stack_wait_http "http://$POSTIQO_BIND/readyz"
}

stack_stop() {
  local rc=$?
  trap - INT TERM EXIT
  for pid in "${stack_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${stack_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  bash "$ROOT/scripts/emulators.sh" stop ministack || true
  if [ "$rc" != 0 ]; then
    echo "[$STACK_NAME] failed; last lines of the logs in $STACK_LOGS:" >&2
    for f in "$STACK_LOGS"/*.log; do
      [ -f "$f" ] && { echo "--- $f" >&2; tail -n 25 "$f" >&2; }
    done
  else
    rm -rf "$STACK_LOGS"
  fi
  exit "$rc"
}
