#!/usr/bin/env bash
# Runs api, writer and cron from bin/ in the foreground; Ctrl-C stops all three.
# Configuration comes from the environment (see README.md). INTERNAL_TOKEN, the
# secret between writer and api, is generated for this run when unset: 256
# random bits in hex (the services refuse placeholders and anything shorter
# than 32 characters). ADMIN_TOKEN stays unset unless you export one: the
# admin endpoints are off.
set -euo pipefail
cd "$(dirname "$0")/../.."

random_secret() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
export INTERNAL_TOKEN=${INTERNAL_TOKEN:-$(random_secret)}
export MYSQL_DSN=${MYSQL_DSN:-root:@tcp(127.0.0.1:3306)/instachat}
export BLEVE_PATH=${BLEVE_PATH:-data/bleve}
API_PORT=${API_PORT:-8080}

pids=()
stop() {
  trap - INT TERM EXIT
  echo "stopping api, writer and cron" >&2
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}
trap stop INT TERM EXIT

HTTP_ADDR=":$API_PORT" bin/api &
pids+=($!)
# The writer and cron migrate too, but wait for the api so logs read in order.
for _ in $(seq 1 50); do
  curl -fs "http://127.0.0.1:$API_PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
API_URL=${API_URL:-http://127.0.0.1:$API_PORT} HTTP_ADDR=${WRITER_ADDR:-:8081} bin/writer &
pids+=($!)
HTTP_ADDR=${CRON_ADDR:-:8082} bin/cron serve &
pids+=($!)
echo "InstaChat is up: api http://127.0.0.1:$API_PORT (Swagger UI at /swagger/index.html). Ctrl-C stops it." >&2
# Stop everything as soon as one service exits.
wait -n "${pids[@]}"
