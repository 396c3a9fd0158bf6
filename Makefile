# The two commands a newcomer needs: `make run` and `make test`. Both bring up PostgreSQL
# and Redis when they are not already answering (scripts/services.sh).
.PHONY: run test bench fuzz services stop-services

## Serve the API on http://127.0.0.1:8080 (migrations applied, regions loaded).
run:
	@scripts/run.sh

## fmt check, clippy with warnings denied, then the whole test suite.
test:
	@scripts/test.sh

## Release server on 100,000 seeded products, loaded by wrk; ratios to GET /livez.
bench:
	@scripts/bench.sh

## schemathesis against the OpenAPI document, as every role, on freshly seeded servers.
fuzz:
	@scripts/fuzz.sh

## Print the DATABASE_URL / REDIS_URL the other targets use, starting services if needed.
services:
	@scripts/services.sh

## Stop the private PostgreSQL / Redis started under .local/ (never anyone else's).
stop-services:
	@scripts/stop-services.sh
