#!/usr/bin/env bash
# Regenerates .sqlx/, the query data sqlx's macros check against when building offline (the
# default, see .cargo/config.toml). Run it after changing a query or a migration, and commit
# .sqlx/ with the change; `make test` fails while .sqlx/ is out of date (scripts/sqlx-check.sh).
#
#   scripts/sqlx-prepare.sh [ADMIN_POSTGRES_URL]
#
# The admin URL (default: $DATABASE_URL, else the local server) is only used to make the
# schema database (scripts/schema-db.sh); the macros describe every query against that one.
# No sqlx-cli needed: the macros write their data to $SQLX_OFFLINE_DIR when they run online.
set -euo pipefail
cd "$(dirname "$0")/.."

admin_url=${1:-${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}}
schema_url=$(scripts/schema-db.sh "$admin_url")

rm -rf .sqlx
mkdir .sqlx
# The macros run only when the crate is recompiled; a touched source file forces that.
touch src/lib.rs
echo "sqlx-prepare: describing the queries against ${schema_url%%\?*}" >&2
SQLX_OFFLINE=false SQLX_OFFLINE_DIR="$PWD/.sqlx" DATABASE_URL="$schema_url" cargo check --lib --tests --locked
echo "sqlx-prepare: $(find .sqlx -name 'query-*.json' | wc -l) queries in .sqlx/" >&2

# Every query must now build from .sqlx/ alone, without a database.
touch src/lib.rs
env -u DATABASE_URL SQLX_OFFLINE=true cargo check --lib --tests --locked
echo "sqlx-prepare: the offline build works; commit .sqlx/" >&2
