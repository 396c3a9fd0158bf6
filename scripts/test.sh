#!/usr/bin/env bash
# `make test`: services, formatting, lints, then the whole suite against real Postgres and Redis.
set -euo pipefail
cd "$(dirname "$0")/.."
services_env=$(scripts/services.sh)
eval "$services_env"
echo "test: Postgres at ${DATABASE_URL%/*}, Redis at $REDIS_URL" >&2

cargo fmt --all -- --check
# Static SQL is compile-time checked: against the schema of migrations/ here, offline from .sqlx/
# everywhere else (.cargo/config.toml); this fails when the two disagree.
scripts/sqlx-check.sh
cargo clippy --all-targets --locked -- -D warnings

# Each test clones its own database; drop the ones earlier runs left behind (their names
# carry a UUIDv7, so only those older than an hour, never a concurrent run's).
if command -v psql >/dev/null 2>&1; then
  psql "$DATABASE_URL" -qAt -c "
    select format('drop database if exists %I;', datname) from pg_database
    where datname like 'tonggan\_test\_%'
      and ('x' || substr(datname, 14, 12))::bit(48)::bigint < (extract(epoch from now()) * 1000 - 3600000)" \
    | psql "$DATABASE_URL" -q >/dev/null || true
fi

# A local Stripe-compatible server (localstripe, from PyPI into .local/) for the end-to-end
# payment tests; stopped again when the tests end.
localstripe_env=$(scripts/localstripe.sh)
eval "$localstripe_env"
export LOCALSTRIPE_URL
trap 'scripts/localstripe.sh stop' EXIT

cargo test --locked --all-targets
