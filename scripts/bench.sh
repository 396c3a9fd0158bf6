#!/usr/bin/env bash
# `make bench`: the release server against a database seeded with 100,000 products, loaded by
# wrk from a second process over loopback. Every scenario is reported as a ratio to a baseline
# measured in the same run (GET /livez on the same server), so figures from different machines
# and days compare. Prints a table and writes it as JSON under bench/results/.
#
# The tally scenarios run on BENCH_LEDGER paid order lines of seeded history (`tonggan seed
# --ledger`); seeding them and a full `tonggan reconcile` are timed too.
#
# `/livez` with the default log configuration is also compared with a bare axum hello world
# (examples/hello.rs) in the same run.
#
#   BENCH_PRODUCTS (100000)  BENCH_LEDGER (1000000)  BENCH_SECONDS (15)  BENCH_WARMUP (3)
#   BENCH_CONNECTIONS (64)
set -euo pipefail
cd "$(dirname "$0")/.."
products=${BENCH_PRODUCTS:-100000}
ledger=${BENCH_LEDGER:-1000000}
seconds=${BENCH_SECONDS:-15}
warmup=${BENCH_WARMUP:-3}
connections=${BENCH_CONNECTIONS:-64}
port=${BENCH_PORT:-18080}
nocache_port=$((port + 1))
logged_port=$((port + 2))
hello_port=$((port + 3))

services_env=$(PG_DB=tonggan_bench scripts/services.sh)
eval "$services_env"
if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2
  else
    echo "bench: wrk is needed (Debian package wrk)" >&2; exit 1
  fi
fi
# The service, and a bare axum hello world with the same axum and tokio (examples/hello.rs): the
# ceiling that `/livez` is compared with.
cargo build --release --locked --bin tonggan --example hello >&2
bin=target/release/tonggan
admin_url="${DATABASE_URL%/*}/postgres"
psql "$admin_url" -qc "drop database if exists tonggan_bench" -c "create database tonggan_bench"
export APP__DATABASE__URL=$DATABASE_URL APP__REDIS__URL=$REDIS_URL
export APP__REDIS__KEY_PREFIX="tonggan-bench:$$:" APP_ENVIRONMENT=local RUST_LOG=warn
export APP__DATABASE__MAX_CONNECTIONS=32
# The order scenarios have 1,024 bench consumers place thousands of unpaid orders from one
# address (loopback): past the per-address creation limit, and in the end past a consumer's
# 5 open orders, limits sized for real buyers (docs/orders.md). Raised so that the scenarios
# measure placement rather than 409s and 429s; every placement still takes its buyer's lock
# and counts its open orders.
export APP__ORDERS__MAX_OPEN_ORDERS_PER_CONSUMER=1000000000 APP__ORDERS__MAX_RESERVED_UNITS_PER_CONSUMER=1000000000
export APP__ORDERS__MAX_CREATES_PER_ACCOUNT=1000000000 APP__ORDERS__MAX_CREATES_PER_CLIENT=1000000000
$bin migrate >/dev/null
seed_started=$(date +%s%N)
RUST_LOG=error $bin seed --demo --products "$products" >/dev/null
seed_secs=$(( ($(date +%s%N) - seed_started) / 1000000 ))e-3
ledger_started=$(date +%s%N)
RUST_LOG=error $bin seed --ledger "$ledger" >&2
ledger_secs=$(( ($(date +%s%N) - ledger_started) / 1000000 ))e-3
reconcile_started=$(date +%s%N)
$bin reconcile >/dev/null
reconcile_secs=$(( ($(date +%s%N) - reconcile_started) / 1000000 ))e-3
echo "bench: $ledger ledger lines seeded in $ledger_secs s, reconciled in $reconcile_secs s" >&2

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
APP__SERVER__PORT=$port $bin serve & pids+=($!)
APP__SERVER__PORT=$nocache_port APP__CATALOG__CACHE_ENABLED=false $bin serve & pids+=($!)
work=$(mktemp -d)
# A third server with the default log configuration (no RUST_LOG: one access-log line per
# request at info), its log in a file as a log shipper would read it; and the hello world.
(unset RUST_LOG; APP__SERVER__PORT=$logged_port exec $bin serve 2> "$work/access.log") & pids+=($!)
target/release/examples/hello "$hello_port" & pids+=($!)
for p in $port $nocache_port $logged_port; do
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$p/livez" >/dev/null 2>&1 && break; sleep 0.1; done
done
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$hello_port/" >/dev/null 2>&1 && break; sleep 0.1; done
psql "$DATABASE_URL" -Atc "select '/api/v1/products/' || id from products where status = 'listed' and producer_active order by id limit 1000" > "$work/products.txt"
q=$(python3 -c 'import urllib.parse; print(urllib.parse.quote("牛肉"))')

results="$work/rows.tsv"
: > "$results"
measure() { # name url wrk-args...: warm up, measure, append a row to $results
  local name=$1 url=$2
  shift 2
  wrk "$@" -d"${warmup}s" "$url" >/dev/null
  local out rps p50 p99 errors
  out=$(wrk "$@" -d"${seconds}s" "$url")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx or 3xx/ {n += $NF} /Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' <<<"$out")
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$rps" "$p50" "$p99" "$errors" >> "$results"
  echo "bench: $name $rps req/s" >&2
}
# Before each write scenario, and before pgbench: a checkpoint, and the kernel's dirty pages
# written out. Seeding (100,000 products, a million ledger lines) and each write scenario
# leave hundreds of megabytes to write back; a commit's WAL flush waiting behind that
# writeback cost the order scenarios (and pgbench) up to half their rate, differently from run
# to run. Each write scenario and its baseline now start from the same settled disk.
settle() {
  psql "$admin_url" -qc checkpoint >/dev/null 2>&1 || echo "bench: no checkpoint (needs a superuser or pg_checkpoint)" >&2
  sync
}
run() { # name url [paths-file | wrk-args...]
  local name=$1 url=$2
  shift 2
  local args=(-t2 -c"$connections" --latency)
  if [ $# -eq 1 ]; then args+=(-s bench/random_path.lua); export WRK_PATHS=$1; shift; fi
  measure "$name" "$url" "${args[@]}" "$@"
}

base=http://127.0.0.1:$port
run livez "$base/livez"
run hello_axum "http://127.0.0.1:$hello_port/"
run livez_default_logging "http://127.0.0.1:$logged_port/livez"
echo "bench: the default-logging server wrote $(grep -c '/livez' "$work/access.log" || true) access-log lines" >&2
: > "$work/access.log"
run catalog_first_page "$base/api/v1/products"
run catalog_category_by_price "$base/api/v1/products?category=2&sort=price_asc"
run keyword_search "$base/api/v1/products?q=$q"
run product_detail "$base" "$work/products.txt"
run price_board "$base/api/v1/price-board?category=5"
run product_detail_uncached "http://127.0.0.1:$nocache_port" "$work/products.txt"

# ---- tallies over the seeded ledger, read as an admin ----------------------------------------
admin_cookie=$(curl -fsS -c - -o /dev/null -H 'content-type: application/json' \
  -d '{"email":"admin@demo.tonggan.cn","password":"tonggan-demo-2026"}' "$base/api/v1/auth/login" \
  | awk '$6 == "tonggan_session" {print "tonggan_session=" $7}')
year=$(TZ=Asia/Shanghai date +%Y)
county_year="/api/v1/admin/tallies?group_by=county&from=$year-01-01&to=$year-12-31&limit=500"
run tallies_summary "$base/api/v1/admin/tallies/summary" -H "Cookie: $admin_cookie"
run tallies_county_year "$base$county_year" -H "Cookie: $admin_cookie"
# The same tally computed afresh on every request (the server without the read cache): what a
# reader pays right after a payment retired the cached figures. One connection: a latency, not
# a throughput (64 connections would only queue on Postgres and time out).
measure tallies_county_year_uncached "http://127.0.0.1:$nocache_port$county_year" -t1 -c1 --latency --timeout 10s \
  -H "Cookie: $admin_cookie"

# ---- order placement vs pgbench, both at 16 concurrent clients ------------------------------
order_clients=${BENCH_ORDER_CLIENTS:-16}
# Hot spot: every order is for the same three products of three different producers, with
# stock that cannot run out. Spread: each order for three products of its own (256 baskets of
# three producers' products taken in turn), so that orders in flight share no product row.
psql "$DATABASE_URL" -qAtc "
  with pick as (
    select distinct on (producer_id) id from products
    where status = 'listed' and producer_active and min_order_qty = 1 order by producer_id, id limit 3)
  update products set stock = 100000000 where id in (select id from pick) returning id" > "$work/order_products.txt"
psql "$DATABASE_URL" -qAt -F ' ' -c "
  with ranked as (
    select id, producer_id, row_number() over (partition by producer_id order by id) as n from products
    where status = 'listed' and producer_active and min_order_qty = 1
      and id not in (select id from products where stock = 100000000)),
  firsts as (
    select id, row_number() over (order by producer_id, n) as k from ranked where n <= 8 limit 768)
  update products p set stock = 100000000 from firsts where p.id = firsts.id returning firsts.k, p.id" \
  | sort -n | awk '{print $2}' > "$work/spread_products.txt"
python3 - "$work/order_products.txt" "$work/spread_products.txt" "$work" <<'PY'
import json, sys
address = {"recipient": "李明", "phone": "13800000000", "adcode": 120101, "detail": "天津市和平区南京路1号"}
def body(ids):
    return json.dumps({"lines": [{"product_id": i, "qty": 1} for i in ids], "shipping_address": address}, ensure_ascii=False)
hot = [l.strip() for l in open(sys.argv[1]) if l.strip()]
spread = [l.strip() for l in open(sys.argv[2]) if l.strip()]
with open(f"{sys.argv[3]}/hot_bodies.jsonl", "w", encoding="utf-8") as f:
    print(body(hot), file=f)
# Products ordered by producer: every third one apart, so a basket's three come from three producers.
third = len(spread) // 3
with open(f"{sys.argv[3]}/spread_bodies.jsonl", "w", encoding="utf-8") as f:
    for i in range(third):
        print(body([spread[i], spread[third + i], spread[2 * third + i]]), file=f)
PY
# The buyers: BENCH_BUYERS consumers (copies of the demo's consumer0, same password), each
# signed in once, taken in turn by the connections. Real buyers hold a handful of unpaid orders
# (the production limits are 5 per consumer and 50 per enterprise) and every placement counts
# its buyer's; with 1,024 buyers each holds about 10-30 by the end of the two order scenarios
# rather than the hundreds that 16 buyers would pile up.
buyers=${BENCH_BUYERS:-1024}
psql "$DATABASE_URL" -qc "
  insert into accounts (id, email, password_hash, display_name, role)
  select gen_random_uuid(), 'bench-buyer' || i || '@demo.tonggan.cn', a.password_hash, '压测买家' || i, 'consumer'
  from accounts a, generate_series(1, $buyers) as i where a.email = 'consumer0@demo.tonggan.cn'"
seq 1 "$buyers" | xargs -P 4 -I{} sh -c "curl -fsS -c - -o /dev/null -H 'content-type: application/json' \
    -d '{\"email\":\"bench-buyer{}@demo.tonggan.cn\",\"password\":\"tonggan-demo-2026\"}' \
    '$base/api/v1/auth/login' | awk '\$6 == \"tonggan_session\" {print \"tonggan_session=\" \$7}'" > "$work/cookies.txt"
echo "bench: $(wc -l < "$work/cookies.txt") of $buyers bench buyers signed in" >&2
export WRK_COOKIES="$work/cookies.txt"
export WRK_BODIES="$work/hot_bodies.jsonl"
settle
measure place_order_3_lines "$base" -t2 -c"$order_clients" --latency -s bench/place_order.lua
export WRK_BODIES="$work/spread_bodies.jsonl"
settle
measure place_order_spread "$base" -t2 -c"$order_clients" --latency -s bench/place_order.lua
# ---- Stripe webhook deliveries: signed payment_intent.succeeded events for distinct orders --
# Payable orders (one line each, spread over many products) with open Stripe payments, made
# directly in SQL: the bench measures the webhook, not order placement. Each event pays one
# order: the ledger row, paid lines, sales count and history in one transaction.
events=${BENCH_EVENTS:-20000}
psql "$DATABASE_URL" -qAt -F ' ' -v n="$events" > "$work/intents.tsv" <<'SQL'
create temp table bench_pay as
select gen_random_uuid() as order_id, gen_random_uuid() as group_id, gen_random_uuid() as line_id,
       gen_random_uuid() as payment_id, p.id as product_id, p.producer_id, p.title, p.retail_price_fen as price,
       'pi_bench_' || replace(gen_random_uuid()::text, '-', '') as intent
from products p where p.status = 'listed' and p.producer_active and p.min_order_qty = 1
order by p.id limit :n;
create temp table bench_buyer as select id from accounts where email = 'consumer1@demo.tonggan.cn';
insert into orders (id, buyer_id, status, total_fen, shipping_address, expires_at)
select order_id, (select id from bench_buyer), 'pending_payment', price,
       '{"recipient": "李明", "phone": "13800000000", "adcode": 120101, "detail": "和平区南京路1号"}',
       now() + interval '1 day'
from bench_pay;
insert into order_groups (id, order_id, producer_id, status, subtotal_fen)
select group_id, order_id, producer_id, 'pending', price from bench_pay;
insert into order_lines (id, order_id, group_id, product_id, title, qty, unit_price_fen, line_total_fen)
select line_id, order_id, group_id, product_id, title, 1, price, price from bench_pay;
insert into payments (id, order_id, method, status, amount_fen, started_by, stripe_idempotency_key,
                      payment_intent_id, client_secret)
select payment_id, order_id, 'stripe', 'open', price, (select id from bench_buyer), 'bench-' || payment_id,
       intent, intent || '_secret'
from bench_pay;
select intent, price from bench_pay;
SQL
# Signed now, with the development webhook secret the bench server runs with: well inside
# Stripe's ±300 s tolerance for the whole run.
python3 - "$work/intents.tsv" > "$work/events.tsv" <<'PY'
import hashlib, hmac, json, sys, time
secret = b"whsec_tonggan_development"
now = int(time.time())
for n, line in enumerate(open(sys.argv[1])):
    intent, price = line.split()
    body = json.dumps({"id": f"evt_bench_{n}_{intent[9:]}", "object": "event", "type": "payment_intent.succeeded",
        "created": now, "api_version": "2026-07-29.dahlia", "livemode": False, "pending_webhooks": 1,
        "data": {"object": {"object": "payment_intent", "id": intent, "amount": int(price), "currency": "cny",
                             "status": "succeeded", "client_secret": intent + "_secret", "metadata": {}}}},
        separators=(",", ":"), ensure_ascii=False)
    sig = hmac.new(secret, f"{now}.{body}".encode(), hashlib.sha256).hexdigest()
    print(f"t={now},v1={sig}\t{body}")
PY
export WRK_EVENTS="$work/events.tsv"
hook_clients=${BENCH_WEBHOOK_CLIENTS:-16}
settle
measure stripe_webhook_paid "$base" -t2 -c"$hook_clients" --latency -s bench/stripe_webhook.lua
paid=$(psql "$DATABASE_URL" -qAtc "select count(*) from payments where payment_intent_id like 'pi_bench_%' and status = 'succeeded'")
echo "bench: $paid orders paid by the webhook, of $events prepared" >&2
if [ "$paid" -ge "$events" ]; then
  echo "bench: every prepared order was paid: the last seconds replayed processed events; raise BENCH_EVENTS" >&2
fi

# The baseline for writes: pgbench's tpcb-like script against the same Postgres, same clients.
pgbench_url="${DATABASE_URL%/*}/tonggan_pgbench"
psql "$admin_url" -qc "drop database if exists tonggan_pgbench" -c "create database tonggan_pgbench"
pgbench -q -i -s "$order_clients" "$pgbench_url" >/dev/null 2>&1
settle
pg_out=$(pgbench -c "$order_clients" -j 2 -T "$seconds" -b tpcb-like "$pgbench_url" 2>/dev/null)
pg_tps=$(awk '/^tps/ {print $3; exit}' <<<"$pg_out")
pg_lat=$(awk '/latency average/ {print $4}' <<<"$pg_out")
printf '%s\t%s\t%sms\t%s\t%s\n' "pgbench_tpcb_like" "$pg_tps" "$pg_lat" "-" "0" >> "$results"
echo "bench: pgbench tpcb-like $pg_tps tps" >&2
psql "$admin_url" -qc "drop database if exists tonggan_pgbench"

stamp=$(date -u +%Y%m%dT%H%M%SZ)
python3 - "$results" "$stamp" "$products" "$seed_secs" "$connections" "$seconds" "$ledger" "$ledger_secs" "$reconcile_secs" <<'PY'
import json, sys
rows_path, stamp, products, seed_secs, connections, seconds, ledger, ledger_secs, reconcile_secs = sys.argv[1:]
def ms(v):
    v = v.strip()
    for unit, f in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if v.endswith(unit):
            return float(v[: -len(unit)]) * f
    return float(v)
rows = []
for line in open(rows_path, encoding="utf-8"):
    name, rps, p50, p99, errors = line.rstrip("\n").split("\t")
    rows.append({"scenario": name, "rps": float(rps), "p50_ms": ms(p50), "p99_ms": None if p99 == "-" else ms(p99), "errors": int(errors)})
base = rows[0]["rps"]
by_name = {r["scenario"]: r for r in rows}
for r in rows:
    r["baseline"] = "livez"
    r["ratio"] = round(r["rps"] / base, 3)
# Writes are compared with pgbench's tpcb-like transactions/s at the same concurrency
# (pgbench's row reports average latency as p50).
if "pgbench_tpcb_like" in by_name and "place_order_3_lines" in by_name:
    pg = by_name["pgbench_tpcb_like"]
    for name in ("place_order_3_lines", "place_order_spread", "pgbench_tpcb_like"):
        if name not in by_name:
            continue
        by_name[name]["baseline"] = "pgbench_tpcb_like"
        by_name[name]["ratio"] = round(by_name[name]["rps"] / pg["rps"], 3)
# `/livez` with the default log configuration is compared with the bare axum hello world.
if "hello_axum" in by_name and "livez_default_logging" in by_name:
    hello = by_name["hello_axum"]
    for name in ("livez_default_logging", "hello_axum"):
        by_name[name]["baseline"] = "hello_axum"
        by_name[name]["ratio"] = round(by_name[name]["rps"] / hello["rps"], 3)
# Webhook deliveries are compared with order placement in the same run.
if "stripe_webhook_paid" in by_name and "place_order_3_lines" in by_name:
    hook = by_name["stripe_webhook_paid"]
    hook["baseline"] = "place_order_3_lines"
    hook["ratio"] = round(hook["rps"] / by_name["place_order_3_lines"]["rps"], 3)
print(f"\nproducts={products} seeded in {float(seed_secs):.1f} s; ledger={ledger} lines seeded in {float(ledger_secs):.1f} s, "
      f"reconciled in {float(reconcile_secs):.1f} s; {connections} connections, {seconds} s per scenario; baseline: livez\n")
print(f"{'scenario':<28}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'ratio':>8}  baseline")
for r in rows:
    p99 = "-" if r["p99_ms"] is None else f"{r['p99_ms']:.2f}"
    print(f"{r['scenario']:<28}{r['rps']:>10.0f}{r['p50_ms']:>9.2f}{p99:>9}{r['errors']:>8}{r['ratio']:>8.3f}  {r['baseline']}")
out = {"when": stamp, "products": int(products), "seed_seconds": float(seed_secs), "ledger_lines": int(ledger),
       "ledger_seed_seconds": float(ledger_secs), "reconcile_seconds": float(reconcile_secs), "connections": int(connections),
       "seconds": int(seconds), "scenarios": rows}
with open(f"bench/results/{stamp}.json", "w", encoding="utf-8") as f:
    json.dump(out, f, ensure_ascii=False, indent=2)
print(f"\nwritten to bench/results/{stamp}.json")
PY
