# Sourced (not run) by deploy/local/run.sh and the Makefile's one-shot targets
# (make sync, reconcile, reindex, dead): the one configuration that make run
# and every command share. On first use it writes .env (git-ignored, mode 600)
# with the local defaults and a generated INTERNAL_TOKEN, ADMIN_TOKEN and
# WEBHOOK_KEY (256 random bits in hex each: the services refuse placeholders and anything
# shorter than 32 characters). Each KEY=value line of .env is exported unless the environment
# already sets KEY, so `MYSQL_DSN=… make sync` still wins; API_URL defaults to
# the api on API_ADDR. It then prints the database and key prefix the command
# will touch (never a password).
INSTACHAT_ENV_FILE=${INSTACHAT_ENV_FILE:-.env}
if [ ! -f "$INSTACHAT_ENV_FILE" ]; then
  (
    umask 077
    cat >"$INSTACHAT_ENV_FILE" <<ENVFILE
# InstaChat's local settings, written by deploy/local/env.sh on first use;
# git-ignored. make run and the one-shot targets (make sync, reconcile,
# reindex, dead) read it; a variable set in the environment wins. Every
# variable is described in README.md, Configuration.
INTERNAL_TOKEN=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
# Opens /admin (dead jobs, the queue dashboard: any user, this as password)
# and lets make reindex ask the running api to rebuild its index.
ADMIN_TOKEN=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
MYSQL_DSN=root:@tcp(127.0.0.1:3306)/instachat
REDIS_ADDR=127.0.0.1:6379
REDIS_KEY_PREFIX=ic:
BLEVE_PATH=data/bleve
# Where make run's services listen (each one's HTTP_ADDR).
API_ADDR=:8080
WRITER_ADDR=:8081
CRON_ADDR=:8082
ENVFILE
  )
  echo "created $INSTACHAT_ENV_FILE with the local settings and new INTERNAL_TOKEN and ADMIN_TOKEN" >&2
fi
# Webhooks (issue 14) came after the first .env files: add their settings once.
if ! grep -q '^WEBHOOK_KEY=' "$INSTACHAT_ENV_FILE"; then
  cat >>"$INSTACHAT_ENV_FILE" <<ENVFILE
# Seals webhook signing secrets in MySQL (the api and the writer share it);
# receivers on this machine may be plain HTTP.
WEBHOOK_KEY=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
WEBHOOK_ALLOW_HOSTS=localhost,127.0.0.1
ENVFILE
  echo "added a new WEBHOOK_KEY and WEBHOOK_ALLOW_HOSTS=localhost,127.0.0.1 to $INSTACHAT_ENV_FILE" >&2
fi
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in '' | '#'*) continue ;; esac
  key=${line%%=*}
  if ! [[ "$key" =~ ^[A-Z_][A-Z0-9_]*$ ]] || [ "$key" = "$line" ]; then
    echo "$INSTACHAT_ENV_FILE: not KEY=value: ${line%%=*}" >&2
    continue
  fi
  if [ -z "${!key+set}" ]; then export "$key=${line#*=}"; fi
done <"$INSTACHAT_ENV_FILE"
unset line key

# make reindex (bin/api rebuild) and make run's writer ask the api at API_URL;
# unless it is set, that is the api make run starts on API_ADDR, so a
# checkout on other ports never asks another checkout's api.
if [ -z "${API_URL:-}" ]; then
  instachat_port=${API_ADDR:-:8080}
  export API_URL="http://127.0.0.1:${instachat_port##*:}"
  unset instachat_port
fi

# The database (name and host from the DSN, without its user and password)
# and key prefix that the commands touch.
instachat_db=${MYSQL_DSN##*/}
instachat_db=${instachat_db%%\?*}
instachat_host=${MYSQL_DSN#*@}
instachat_host=${instachat_host%%/*}
instachat_host=${instachat_host#*(}
instachat_host=${instachat_host%)}
echo "settings from $INSTACHAT_ENV_FILE: database ${instachat_db:-?} on ${instachat_host:-?}, key prefix \"${REDIS_KEY_PREFIX:-ic:}\"" >&2
unset instachat_db instachat_host
