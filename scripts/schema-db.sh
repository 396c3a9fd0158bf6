#!/usr/bin/env bash
# Prints the URL of a database holding exactly the schema of migrations/, for sqlx's
# compile-time checked queries (scripts/sqlx-prepare.sh, scripts/sqlx-check.sh):
#
#   DATABASE_URL=$(scripts/schema-db.sh postgres://postgres@127.0.0.1:5432/postgres) cargo check
#
# $1 is an admin URL (a role that may create databases). The database is named after a hash
# of the migrations' contents, so a changed migration gets a new database and an unchanged
# one is reused. It is built under a name of its own (per process) and renamed into place
# only once every migration applied, so two concurrent runs never see a half-built schema
# and never collide: the loser of the rename drops its copy and uses the winner's.
set -euo pipefail

admin_url=${1:?usage: scripts/schema-db.sh ADMIN_POSTGRES_URL}
command -v psql >/dev/null 2>&1 || { echo "schema-db: psql is needed (Debian: postgresql-client)" >&2; exit 1; }
root=$(cd "$(dirname "$0")/.." && pwd)
export LC_ALL=C

migrations=("$root"/migrations/*.sql)
[ -e "${migrations[0]}" ] || { echo "schema-db: no migrations in $root/migrations" >&2; exit 1; }
hash=$(cat "${migrations[@]}" | sha256sum | cut -c1-12)
name="tonggan_schema_$hash"

# The admin URL with its database name replaced (keeping any ?query).
with_database() {
  local url=$1 db=$2 base query=""
  base=${url%%\?*}
  [ "$base" != "$url" ] && query="?${url#*\?}"
  printf '%s/%s%s\n' "${base%/*}" "$db" "$query"
}

admin() { psql "$admin_url" -X -q -v ON_ERROR_STOP=1 -At "$@"; }

exists() {
  [ "$(admin -c "select count(*) from pg_database where datname = '$1'")" = 1 ]
}

if ! exists "$name"; then
  building="${name}_building_$$_$RANDOM"
  trap 'admin -c "drop database if exists \"$building\"" >/dev/null 2>&1 || true' EXIT
  echo "schema-db: building $name from ${#migrations[@]} migrations" >&2
  admin -c "create database \"$building\""
  for m in "${migrations[@]}"; do
    psql "$(with_database "$admin_url" "$building")" -X -q -v ON_ERROR_STOP=1 -f "$m" >/dev/null
  done
  # Another run may have renamed its copy into place meanwhile: then this one is dropped
  # (by the trap) and theirs is used.
  if ! admin -c "alter database \"$building\" rename to \"$name\"" 2>/dev/null; then
    exists "$name" || { echo "schema-db: could not rename $building to $name" >&2; exit 1; }
  fi
fi

with_database "$admin_url" "$name"
