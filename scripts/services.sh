#!/usr/bin/env bash
# Makes sure PostgreSQL and Redis answer, and prints `export DATABASE_URL=... REDIS_URL=...`
# for the caller to eval. Reuses servers that already answer on the usual ports; otherwise
# starts private ones from the installed server binaries (installing Debian's packages when
# they are missing and we are root) under .local/, on their own ports. Never stops or
# reconfigures a server it did not start.
#
#   PG_PORT (5432) / REDIS_PORT (6379)                  where to look for running servers
#   PRIVATE_PG_PORT (25432) / PRIVATE_REDIS_PORT (26379) where private servers listen
#   (below the kernel's ephemeral range, so no outgoing connection can hold them)
#   PG_DB (postgres)                                     database name in the printed URL
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
local_dir="$root/.local"
pg_port=${PG_PORT:-5432}
redis_port=${REDIS_PORT:-6379}
private_pg_port=${PRIVATE_PG_PORT:-25432}
private_redis_port=${PRIVATE_REDIS_PORT:-26379}
pg_db=${PG_DB:-postgres}

log() { echo "services: $*" >&2; }

# Something accepts TCP connections on 127.0.0.1:$1.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pg_answers() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h 127.0.0.1 -p "$1" -t 2
  else
    listening "$1"
  fi
}

redis_answers() {
  if command -v redis-cli >/dev/null 2>&1; then
    [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = "PONG" ]
  else
    listening "$1"
  fi
}

apt_install() {
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "$* is not installed and cannot be installed here (need root and apt-get); install it and retry"
    exit 1
  fi
  log "installing $* from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || true
  apt-get install -y -qq "$@" >&2
}

pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

start_private_pg() {
  local bindir
  bindir=$(pg_bindir)
  if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
    apt_install postgresql postgresql-client
    bindir=$(pg_bindir)
  fi
  local data="$local_dir/pg/data" run_as=()
  mkdir -p "$local_dir/pg"
  if [ "$(id -u)" -eq 0 ]; then
    # PostgreSQL refuses to run as root: run it as the postgres system user.
    id postgres >/dev/null 2>&1 || useradd --system --home-dir "$local_dir/pg" postgres
    chown -R postgres "$local_dir/pg"
    run_as=(runuser -u postgres --)
  fi
  if [ ! -s "$data/PG_VERSION" ]; then
    log "initialising a private PostgreSQL in $data"
    "${run_as[@]}" "$bindir/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >&2
  fi
  log "starting a private PostgreSQL on 127.0.0.1:$private_pg_port"
  "${run_as[@]}" "$bindir/pg_ctl" -D "$data" -l "$local_dir/pg/postgres.log" -w -t 60 \
    -o "-p $private_pg_port -c listen_addresses=127.0.0.1 -k $local_dir/pg -c max_connections=300 -c fsync=off" start >&2
}

start_private_redis() {
  if ! command -v redis-server >/dev/null 2>&1; then
    apt_install redis-server
  fi
  mkdir -p "$local_dir/redis"
  log "starting a private Redis on 127.0.0.1:$private_redis_port"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$private_redis_port" --save "" --appendonly no \
    --dir "$local_dir/redis" --logfile "$local_dir/redis/redis.log" --pidfile "$local_dir/redis/redis.pid" >&2
  for _ in $(seq 1 50); do
    redis_answers "$private_redis_port" && return 0
    sleep 0.1
  done
  log "the private Redis did not come up; see $local_dir/redis/redis.log"
  exit 1
}

if pg_answers "$pg_port"; then
  port=$pg_port
elif pg_answers "$private_pg_port"; then
  port=$private_pg_port
else
  start_private_pg
  port=$private_pg_port
fi
echo "export DATABASE_URL=postgres://postgres@127.0.0.1:$port/$pg_db"

if redis_answers "$redis_port"; then
  port=$redis_port
elif redis_answers "$private_redis_port"; then
  port=$private_redis_port
else
  start_private_redis
  port=$private_redis_port
fi
echo "export REDIS_URL=redis://127.0.0.1:$port"
