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
WRITER_ADDR=${WRITER_ADDR:-:8081}
CRON_ADDR=${CRON_ADDR:-:8082}

# A port already taken (often by another make run) would make a service fail
# after the others started, or, worse, let another api answer for ours.
busy=()
for var in API_ADDR WRITER_ADDR CRON_ADDR; do
  addr=${!var}
  if (exec 3<>"/dev/tcp/127.0.0.1/${addr##*:}") 2>/dev/null; then busy+=("$var=$addr"); fi
done
if [ ${#busy[@]} -gt 0 ]; then
  cat >&2 <<EOF
make run: something already listens on ${busy[*]} (another make run?).
Stop it, or give this checkout other ports: set API_ADDR, WRITER_ADDR and CRON_ADDR in .env, or for one run:
  API_ADDR=:18080 WRITER_ADDR=:18081 CRON_ADDR=:18082 make run
EOF
  exit 1
fi

pids=()
stopping=
stop() {
  trap - INT TERM HUP EXIT
  stopping=1
  echo "stopping api, writer and cron" >&2
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}
trap stop INT TERM HUP EXIT

# up NAME PID ADDR waits until the service answers /healthz on ADDR's port,
# and fails at once when it exited (its error is logged above).
up() {
  for _ in $(seq 1 300); do
    if ! kill -0 "$2" 2>/dev/null; then
      echo "make run: $1 exited during start-up; see its error above" >&2
      return 1
    fi
    curl -fs "http://127.0.0.1:${3##*:}/healthz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "make run: $1 did not answer /healthz on $3 within 60 s" >&2
  return 1
}

HTTP_ADDR="$API_ADDR" bin/api &
pids+=($!)
# The writer and cron migrate too, but wait for the api so logs read in order.
up api "${pids[0]}" "$API_ADDR" || exit 1
HTTP_ADDR="$WRITER_ADDR" bin/writer &
pids+=($!)
HTTP_ADDR="$CRON_ADDR" bin/cron serve &
pids+=($!)
up writer "${pids[1]}" "$WRITER_ADDR" || exit 1
up cron "${pids[2]}" "$CRON_ADDR" || exit 1
API_PORT=${API_ADDR##*:}
echo "InstaChat is up: api http://127.0.0.1:$API_PORT (Swagger UI at /swagger/index.html; the queue dashboard at /admin/queues takes ADMIN_TOKEN from .env as its password). Ctrl-C stops it." >&2
# Stop everything as soon as one service exits.
status=0
wait -n "${pids[@]}" || status=$?
# (Ctrl-C reaches the services too, which then exit 0 before the trap runs.)
if [ -z "$stopping" ] && [ "$status" != 0 ]; then echo "make run: a service exited (status $status); stopping the others" >&2; fi
exit "$status"
