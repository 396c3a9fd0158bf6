#!/usr/bin/env bash
# `make run`: services, the `tonggan` database, migrations, then serve on :8080.
set -euo pipefail
cd "$(dirname "$0")/.."
services_env=$(PG_DB=tonggan scripts/services.sh)
eval "$services_env"
admin_url="${DATABASE_URL%/*}/postgres"
if ! psql "$admin_url" -qAt -c "select 1 from pg_database where datname = 'tonggan'" | grep -q 1; then
  psql "$admin_url" -q -c "create database tonggan"
fi
# A local Stripe-compatible server for card payments, with the webhook pointed at this server.
localstripe_env=$(scripts/localstripe.sh)
eval "$localstripe_env"
export APP__STRIPE__API_BASE="$LOCALSTRIPE_URL/"
port=${APP__SERVER__PORT:-8080}
curl -sf -o /dev/null -X POST "$LOCALSTRIPE_URL/_config/webhooks/tonggan_run" \
  --data-urlencode "url=http://127.0.0.1:$port/api/v1/payments/stripe/webhook" \
  --data-urlencode "secret=${APP__STRIPE__WEBHOOK_SECRET:-whsec_tonggan_development}"
cargo build --release --locked
target/release/tonggan migrate
# Demo data once: the command leaves an already seeded database alone.
target/release/tonggan seed --demo --products "${DEMO_PRODUCTS:-2000}"
cat >&2 <<MSG

  tonggan is starting on http://127.0.0.1:${APP__SERVER__PORT:-8080}
    API      http://127.0.0.1:${APP__SERVER__PORT:-8080}/api/v1   (e.g. /api/v1/regions?level=prefecture)
    Docs     http://127.0.0.1:${APP__SERVER__PORT:-8080}/docs
    Metrics  http://127.0.0.1:${APP__SERVER__PORT:-8080}/metrics
    Stripe   $LOCALSTRIPE_URL (localstripe; pay with pm_card_visa, see README "A purchase, end to end")
  Demo sign-ins (password tonggan-demo-2026): admin@demo.tonggan.cn, auditor@demo.tonggan.cn,
    producer0@demo.tonggan.cn, enterprise0@demo.tonggan.cn, consumer0@demo.tonggan.cn
  Create an admin:  echo 'a-long-password' | target/release/tonggan admin create --email admin@example.cn --role admin

MSG
exec target/release/tonggan serve
