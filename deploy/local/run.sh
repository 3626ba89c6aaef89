#!/usr/bin/env bash
# Runs api, writer and cron from bin/ in the foreground; Ctrl-C stops all three.
# Configuration comes from .env (written on first use by deploy/local/env.sh,
# with generated INTERNAL_TOKEN and ADMIN_TOKEN) and the environment, which
# wins; the one-shot make targets read the same. API_ADDR, WRITER_ADDR and
# CRON_ADDR are each service's HTTP_ADDR. ADMIN_TOKEN opens /admin (the queue
# dashboard asks for it as the password) and lets make reindex ask the api.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=deploy/local/env.sh
. deploy/local/env.sh
API_ADDR=${API_ADDR:-:8080}
API_PORT=${API_ADDR##*:}

pids=()
stop() {
  trap - INT TERM EXIT
  echo "stopping api, writer and cron" >&2
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}
trap stop INT TERM EXIT

HTTP_ADDR="$API_ADDR" bin/api &
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
echo "InstaChat is up: api http://127.0.0.1:$API_PORT (Swagger UI at /swagger/index.html; the queue dashboard at /admin/queues takes ADMIN_TOKEN from .env as its password). Ctrl-C stops it." >&2
# Stop everything as soon as one service exits.
wait -n "${pids[@]}"
