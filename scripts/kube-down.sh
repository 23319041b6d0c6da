#!/usr/bin/env bash
# Stops the local Kubernetes started by kube-up.sh, by PID: the node agent first (it stops its pods
# with SIGTERM and their grace period), then the controller-manager, the apiserver and etcd; finally
# any pod process left behind (agent killed hard) is killed by its PID file. Leaves state on disk.
set -euo pipefail
EDDY_CACHE="${EDDY_CACHE:-$HOME/.cache/eddy}"
dir="${EDDY_KUBE_DIR:-$EDDY_CACHE/kube}"
[[ -d $dir/run ]] || { echo "kube: nothing to stop in $dir"; exit 0; }
stop() { # stop PIDFILE NAME SECONDS: SIGTERM the process group, wait, then SIGKILL
  local f="$1" name="$2" secs="$3" pid i
  [[ -f $f ]] || return 0
  pid="$(cat "$f")"
  if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < secs * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      echo "kube: killed $name (pid $pid) after ${secs}s"
    else
      echo "kube: stopped $name (pid $pid)"
    fi
  fi
  rm -f "$f"
}
stop "$dir/run/node-agent.pid" node-agent 45
shopt -s nullglob
for f in "$dir"/agent/pods/*/*.pid; do stop "$f" "pod process $(basename "$(dirname "$f")")/$(basename "$f" .pid)" 5; done
stop "$dir/run/kube-controller-manager.pid" kube-controller-manager 10
stop "$dir/run/kube-apiserver.pid" kube-apiserver 15
stop "$dir/run/etcd.pid" etcd 10
