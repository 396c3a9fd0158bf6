#!/usr/bin/env bash
# `make fuzz`: fuzzes the API against its own OpenAPI document with schemathesis (PyPI, into a
# project-local virtualenv .venv-fuzz/), once per role, each against a freshly migrated and
# seeded database and a server of its own. Every check, every phase; the accepted exceptions
# are in schemathesis.toml, one comment each. Prints cases and failures per role and exits
# non-zero when any role has a failure or an error.
#
#   FUZZ_ROLES         roles to run (default: anonymous consumer enterprise_owner
#                      enterprise_purchaser producer admin auditor)
#   FUZZ_PHASES        schemathesis phases (default: examples,coverage,fuzzing,stateful)
#   FUZZ_MAX_EXAMPLES  test cases per operation in the fuzzing phase (default: schemathesis's 100)
#   FUZZ_MAX_TIME      seconds per role; fuzzing and stateful repeat until it is spent (default: none)
#   FUZZ_SEED          schemathesis's random seed (default: random, printed in the report)
#   FUZZ_PRODUCTS      demo products to seed (default 200)
#   FUZZ_BIN           a tonggan binary to use instead of building the debug one
#
# Reports (schemathesis JSON, NDJSON events) and each server's log go to .local/fuzz/<role>/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

roles=${FUZZ_ROLES:-anonymous consumer enterprise_owner enterprise_purchaser producer admin auditor}
phases=${FUZZ_PHASES:-examples,coverage,fuzzing,stateful}
products=${FUZZ_PRODUCTS:-200}
venv="$root/.venv-fuzz"
out="$root/.local/fuzz"
password=tonggan-demo-2026 # src/seed/demo.rs DEMO_PASSWORD

log() { echo "fuzz: $*" >&2; }

# ---- schemathesis, in its own virtualenv --------------------------------------------------
if [ ! -x "$venv/bin/python" ]; then
  log "creating a virtualenv in $venv"
  "${PYTHON:-python3}" -m venv "$venv" >&2
fi
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(not m.version('schemathesis').startswith('4.'))" 2>/dev/null; then
  log "installing schemathesis 4 from PyPI"
  "$venv/bin/python" -m pip install -q 'schemathesis>=4,<5' >&2
fi

# ---- services, the server binary, localstripe ---------------------------------------------
services_env=$(scripts/services.sh)
eval "$services_env"
admin_url="${DATABASE_URL%/*}/postgres"
if [ -n "${FUZZ_BIN:-}" ]; then
  bin=$FUZZ_BIN
else
  cargo build --locked --bin tonggan >&2
  bin="${CARGO_TARGET_DIR:-$root/target}/debug/tonggan"
fi
localstripe_env=$(scripts/localstripe.sh)
eval "$localstripe_env"
export APP__STRIPE__API_BASE="$LOCALSTRIPE_URL/"

server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  scripts/localstripe.sh stop || true
}
trap cleanup EXIT

free_port() { "$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Signs in and prints the session cookie's value.
session_cookie() {
  local jar
  jar=$(mktemp)
  curl -sf -o /dev/null -c "$jar" "$base/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"$password\"}"
  awk '$6 == "tonggan_session" { print $7 }' "$jar"
  rm -f "$jar"
}

# The cookie for `role`, on the freshly seeded server. The demo has no purchaser: the owner of
# enterprise0 adds one through the API.
cookie_for() {
  case "$1" in
    anonymous) echo "" ;;
    consumer) session_cookie consumer0@demo.tonggan.cn ;;
    enterprise_owner) session_cookie enterprise0@demo.tonggan.cn ;;
    producer) session_cookie producer0@demo.tonggan.cn ;;
    admin) session_cookie admin@demo.tonggan.cn ;;
    auditor) session_cookie auditor@demo.tonggan.cn ;;
    enterprise_purchaser)
      local owner org
      owner=$(session_cookie enterprise0@demo.tonggan.cn)
      org=$(curl -sf "$base/api/v1/me" -H "Cookie: tonggan_session=$owner" | "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["memberships"][0]["organization_id"])')
      curl -sf -o /dev/null "$base/api/v1/organizations/$org/members" -H "Cookie: tonggan_session=$owner" -H 'content-type: application/json' \
        -d "{\"email\":\"purchaser0@demo.tonggan.cn\",\"password\":\"$password\",\"display_name\":\"采购员\",\"role\":\"purchaser\"}"
      session_cookie purchaser0@demo.tonggan.cn
      ;;
    *)
      log "unknown role $1"
      exit 2
      ;;
  esac
}

args=(--checks all --phases "$phases")
[ -n "${FUZZ_MAX_EXAMPLES:-}" ] && args+=(--max-examples "$FUZZ_MAX_EXAMPLES")
[ -n "${FUZZ_MAX_TIME:-}" ] && args+=(--max-time "$FUZZ_MAX_TIME")
[ -n "${FUZZ_SEED:-}" ] && args+=(--seed "$FUZZ_SEED")

run_id=$(date +%s)-$$
summary=()
failed=0
for role in $roles; do
  dir="$out/$role"
  rm -rf "$dir"
  mkdir -p "$dir"
  # A database of this run's own, so that two runs (a full one beside CI's bounded one) can
  # share a Postgres.
  db="tonggan_fuzz_$$_$role"
  log "$role: fresh database $db, $products demo products"
  psql "$admin_url" -q -c "drop database if exists $db with (force)" -c "create database $db"
  export DATABASE_URL="${DATABASE_URL%/*}/$db"
  # A Redis prefix of this run's own: no session, cache entry or throttle counter of an earlier
  # run (failed sign-ins included) carries over.
  export APP__REDIS__KEY_PREFIX="tonggan_fuzz:$run_id:$role:"
  "$bin" migrate >"$dir/server.log" 2>&1
  "$bin" seed --demo --products "$products" >>"$dir/server.log" 2>&1

  port=$(free_port)
  base="http://127.0.0.1:$port"
  curl -sf -o /dev/null -X POST "$LOCALSTRIPE_URL/_config/webhooks/tonggan_fuzz" \
    --data-urlencode "url=$base/api/v1/payments/stripe/webhook" \
    --data-urlencode "secret=${APP__STRIPE__WEBHOOK_SECRET:-whsec_tonggan_development}"
  # Sign-ups are limited per client address (50 per 10 minutes): every fuzzer request comes
  # from 127.0.0.1, so the limit would answer 429 to nearly every registration case and the
  # fuzzer would never reach the registration logic. The 429 itself is covered by the tests.
  APP__SIGNUP_THROTTLE__MAX_PER_CLIENT=1000000 APP__SERVER__PORT=$port "$bin" serve >>"$dir/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null "$base/readyz" && break
    sleep 0.2
  done
  curl -sf -o /dev/null "$base/readyz" || { log "$role: the server did not come up; see $dir/server.log"; exit 1; }

  role_args=()
  # The document declares the session cookie as the `session` security scheme, and
  # schemathesis.toml takes its value from TONGGAN_FUZZ_SESSION, so that schemathesis knows it
  # is the credential (its auth checks leave it out on purpose and expect 401).
  TONGGAN_FUZZ_SESSION=$(cookie_for "$role")
  export TONGGAN_FUZZ_SESSION
  if [ -n "$TONGGAN_FUZZ_SESSION" ]; then
    # Signing out would end the very session the run is using, and every later case would be
    # anonymous: those two operations are fuzzed by the anonymous run only.
    role_args+=(--exclude-path /api/v1/auth/logout --exclude-path /api/v1/auth/logout-all)
  elif [ "$role" != anonymous ]; then
    log "$role: could not sign in"
    exit 1
  fi

  log "$role: schemathesis on $base"
  set +e
  "$venv/bin/schemathesis" --config-file "$root/schemathesis.toml" run "$base/api/v1/openapi.json" "${args[@]}" "${role_args[@]}" \
    --report json,ndjson --report-dir "$dir" --report-json-path "$dir/report.json" >"$dir/schemathesis.txt" 2>&1
  status=$?
  set -e
  tail -n 40 "$dir/schemathesis.txt" >&2

  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  psql "$admin_url" -q -c "drop database if exists $db with (force)" || true
  if command -v redis-cli >/dev/null 2>&1; then
    redis-cli -u "$REDIS_URL" --scan --pattern "$APP__REDIS__KEY_PREFIX*" | xargs -r redis-cli -u "$REDIS_URL" del >/dev/null || true
  fi

  line=$("$venv/bin/python" - "$dir/report.json" "$role" "$status" <<'PY'
import json, sys
path, role, status = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    r = json.load(open(path))
except OSError:
    print(f"{role:22} no report (schemathesis exit {status})")
    sys.exit()
tc = r["test_cases"]
failures = sum(f["count"] for f in r["failures"])
errors = sum(e["count"] for e in r["errors"])
print(f"{role:22} cases {tc['generated']:>7}  failures {failures:>4}  errors {errors:>3}  "
      f"warnings {len(r['warnings']):>2}  operations {r['operations']['tested']}/{r['operations']['selected']}  "
      f"exit {status}")
PY
)
  summary+=("$line")
  [ "$status" -eq 0 ] || failed=1
done

echo
echo "fuzz summary (phases $phases${FUZZ_MAX_EXAMPLES:+, max examples $FUZZ_MAX_EXAMPLES}${FUZZ_MAX_TIME:+, max time ${FUZZ_MAX_TIME}s per role}):"
printf '  %s\n' "${summary[@]}"
exit "$failed"
