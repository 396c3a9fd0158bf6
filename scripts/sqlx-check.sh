#!/usr/bin/env bash
# `make test`'s check that the queries and the committed .sqlx/ still match the migrations:
# the macros describe every query again against a database built from migrations/ (so a
# migration that renames or drops a column a query uses fails here, with sqlx's error), and
# the data they write must equal .sqlx/ (so a changed query or migration without a rerun of
# scripts/sqlx-prepare.sh fails too). $DATABASE_URL: an admin URL, as scripts/services.sh prints.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${DATABASE_URL:?sqlx-check: DATABASE_URL must be an admin Postgres URL (see scripts/services.sh)}"
schema_url=$(scripts/schema-db.sh "$DATABASE_URL")

fresh="$PWD/target/sqlx-fresh"
rm -rf "$fresh"
mkdir -p "$fresh"
# The macros run only when the crate is recompiled; a touched source file forces that.
touch src/lib.rs
echo "sqlx-check: describing the queries against ${schema_url%%\?*}" >&2
if ! SQLX_OFFLINE=false SQLX_OFFLINE_DIR="$fresh" DATABASE_URL="$schema_url" cargo check --lib --tests --locked; then
  echo "sqlx-check: the queries do not compile against the schema of migrations/ (see sqlx's errors above)" >&2
  exit 1
fi
if ! diff -r .sqlx "$fresh" >&2; then
  echo "sqlx-check: .sqlx/ is out of date with the queries or migrations: run scripts/sqlx-prepare.sh and commit .sqlx/" >&2
  exit 1
fi
echo "sqlx-check: $(find "$fresh" -name 'query-*.json' | wc -l) queries match .sqlx/" >&2
