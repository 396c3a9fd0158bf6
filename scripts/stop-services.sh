#!/usr/bin/env bash
# Stops only the private servers scripts/services.sh started under .local/.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -s .local/pg/data/postmaster.pid ]; then
  bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$bindir/pg_ctl" -D .local/pg/data stop -m fast
  else "$bindir/pg_ctl" -D .local/pg/data stop -m fast; fi
fi
if [ -s .local/redis/redis.pid ]; then
  kill "$(cat .local/redis/redis.pid)" 2>/dev/null && rm -f .local/redis/redis.pid
fi
