#!/usr/bin/env bash
# Shared helpers for the dev scripts: logging, PID files, waiting for a port with a deadline.
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# ensure_cargo_tools: nextest is on the machine image; fail clearly if not.
ensure_cargo_tools() {
  command -v cargo >/dev/null || { echo "cargo is required (install Rust with rustup)" >&2; exit 1; }
  cargo nextest --version >/dev/null 2>&1 || cargo install --locked cargo-nextest
}

# start_bg NAME CMD...: start CMD in the background, log to $EDDY_RUN/NAME.log, PID to NAME.pid.
start_bg() {
  local name="$1"; shift
  mkdir -p "$EDDY_RUN"
  if [[ -f "$EDDY_RUN/$name.pid" ]] && kill -0 "$(cat "$EDDY_RUN/$name.pid")" 2>/dev/null; then
    echo "$name already running (pid $(cat "$EDDY_RUN/$name.pid"))"
    return 0
  fi
  nohup "$@" >"$EDDY_RUN/$name.log" 2>&1 &
  echo $! >"$EDDY_RUN/$name.pid"
}

# stop_pid NAME: SIGTERM, wait up to 30 s, then SIGKILL.
stop_pid() {
  local name="$1" f="$EDDY_RUN/$1.pid" pid
  [[ -f $f ]] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    echo "stopped $name (pid $pid)"
  fi
  rm -f "$f"
}

# wait_port HOST PORT SECONDS NAME: poll until a TCP port accepts, or fail with the log tail.
wait_port() {
  local host="$1" port="$2" secs="$3" name="$4" i
  for ((i = 0; i < secs * 10; i++)); do
    (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null && return 0
    if [[ -f "$EDDY_RUN/$name.pid" ]] && ! kill -0 "$(cat "$EDDY_RUN/$name.pid")" 2>/dev/null; then
      echo "$name exited; last log lines:" >&2; tail -n 20 "$EDDY_RUN/$name.log" >&2; return 1
    fi
    sleep 0.1
  done
  echo "$name did not open $host:$port within ${secs}s; last log lines:" >&2
  tail -n 20 "$EDDY_RUN/$name.log" >&2
  return 1
}
