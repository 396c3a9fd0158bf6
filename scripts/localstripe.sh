#!/usr/bin/env bash
# Starts a local Stripe-compatible server (localstripe, from PyPI) for end-to-end payment
# tests and the demo, and prints `LOCALSTRIPE_URL=http://127.0.0.1:<port>` for the caller to
# eval. The server runs in the background from a project-local virtualenv; its pid, port and
# log live under .local/. Reuses the instance this script started earlier when it still
# answers. `scripts/localstripe.sh stop` stops only that instance.
#
# Two things localstripe 1.15.10 does that cannot be configured: it listens on every interface
# (IPv4 and IPv6), not only on 127.0.0.1; and after every write it pickles its whole store to
# /tmp/localstripe.pickle (one fixed path for every instance on the machine). --from-scratch
# keeps it from loading that file at start, so instances do not see each other's objects.
#
#   LOCALSTRIPE_PORT   port to listen on (default: a free port chosen now)
#   PYTHON             interpreter used to create the virtualenv (default: python3)
#
#   eval "$(scripts/localstripe.sh)"   # sets LOCALSTRIPE_URL in the calling shell
set -euo pipefail

version=1.15.10
root=$(cd "$(dirname "$0")/.." && pwd)
local_dir="$root/.local"
venv="$local_dir/localstripe-venv"
pid_file="$local_dir/localstripe.pid"
port_file="$local_dir/localstripe.port"
log_file="$local_dir/localstripe.log"

log() { echo "localstripe: $*" >&2; }

# The pid in the pid file, when that process is still alive and is our localstripe.
our_pid() {
  [ -s "$pid_file" ] || return 1
  local pid
  pid=$(cat "$pid_file")
  [ -r "/proc/$pid/cmdline" ] || kill -0 "$pid" 2>/dev/null || return 1
  if [ -r "/proc/$pid/cmdline" ] && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$venv/bin/localstripe"; then
    return 1
  fi
  echo "$pid"
}

# localstripe answers HTTP on 127.0.0.1:$1 (any status: an unauthenticated request gets 401).
answers() {
  local code
  code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$1/v1/customers" 2>/dev/null || true)
  [ -n "$code" ] && [ "$code" != "000" ]
}

stop() {
  local pid
  if pid=$(our_pid); then
    log "stopping the instance started here (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  else
    log "no instance started by this script is running"
  fi
  rm -f "$pid_file" "$port_file"
}

install() {
  local python=${PYTHON:-python3}
  if [ ! -x "$venv/bin/python" ]; then
    log "creating a virtualenv in $venv"
    mkdir -p "$local_dir"
    "$python" -m venv "$venv" >&2
  fi
  if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('localstripe') != '$version')" 2>/dev/null; then
    log "installing localstripe==$version from PyPI"
    "$venv/bin/python" -m pip install -q "localstripe==$version" >&2
  fi
}

free_port() {
  "$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  local pid port
  if pid=$(our_pid); then
    port=$(cat "$port_file" 2>/dev/null || true)
    if [ -n "$port" ] && answers "$port" && { [ -z "${LOCALSTRIPE_PORT:-}" ] || [ "$LOCALSTRIPE_PORT" = "$port" ]; }; then
      log "reusing the instance started here (pid $pid) on port $port"
      echo "LOCALSTRIPE_URL=http://127.0.0.1:$port"
      return 0
    fi
    log "the instance started here (pid $pid) does not answer on the wanted port: restarting it"
    stop
  fi
  install
  port=${LOCALSTRIPE_PORT:-$(free_port)}
  if answers "$port"; then
    log "something else already answers on 127.0.0.1:$port; choose another LOCALSTRIPE_PORT"
    exit 1
  fi
  log "starting localstripe $version on 127.0.0.1:$port (log: $log_file)"
  # setsid: the server outlives this script and the terminal that ran it.
  setsid "$venv/bin/localstripe" --port "$port" --from-scratch >"$log_file" 2>&1 </dev/null &
  echo $! >"$pid_file"
  echo "$port" >"$port_file"
  for _ in $(seq 1 100); do
    if answers "$port"; then
      echo "LOCALSTRIPE_URL=http://127.0.0.1:$port"
      return 0
    fi
    if ! kill -0 "$(cat "$pid_file")" 2>/dev/null; then
      log "localstripe exited; its log:"
      tail -n 20 "$log_file" >&2
      rm -f "$pid_file" "$port_file"
      exit 1
    fi
    sleep 0.1
  done
  log "localstripe did not answer within 10 s; see $log_file"
  stop
  exit 1
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *)
    echo "usage: $0 [start|stop]" >&2
    exit 2
    ;;
esac
