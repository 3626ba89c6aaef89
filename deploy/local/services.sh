#!/usr/bin/env bash
# Makes sure MariaDB (MySQL) and Redis answer at their usual local addresses.
# A server that is installed but stopped is started. With INSTALL=1 (CI) a
# missing server is installed with apt-get first; otherwise the script says
# how to get it and fails.
set -euo pipefail

MYSQL_HOST=${MYSQL_HOST:-127.0.0.1}
MYSQL_PORT=${MYSQL_PORT:-3306}
REDIS_HOST=${REDIS_HOST:-127.0.0.1}
REDIS_PORT=${REDIS_PORT:-6379}

say() { echo "services: $*" >&2; }

reachable() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_for() { # name host port
  for _ in $(seq 1 60); do
    reachable "$2" "$3" && return 0
    sleep 0.5
  done
  say "$1 did not start listening on $2:$3 within 30 s"
  return 1
}

apt_install() {
  if [ "${INSTALL:-0}" != 1 ]; then
    say "$1 is not installed. Install it with: sudo apt-get install -y $2   (or set INSTALL=1)"
    exit 1
  fi
  say "installing $2 with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "$2" >/dev/null
}

ensure_mysql() {
  if reachable "$MYSQL_HOST" "$MYSQL_PORT"; then return 0; fi
  if [ "$MYSQL_HOST" != 127.0.0.1 ] && [ "$MYSQL_HOST" != localhost ]; then
    say "MySQL at $MYSQL_HOST:$MYSQL_PORT does not answer"; exit 1
  fi
  command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || apt_install MariaDB mariadb-server
  say "starting MariaDB"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  if command -v start-stop-daemon >/dev/null 2>&1; then
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  else
    (/usr/sbin/mariadbd >/dev/null 2>&1 &)
  fi
  wait_for MariaDB "$MYSQL_HOST" "$MYSQL_PORT"
  # A fresh Debian install lets root in by socket only; the services use TCP
  # with an empty root password, as on the development machines.
  if ! mysql -uroot -h"$MYSQL_HOST" -P"$MYSQL_PORT" -e 'SELECT 1' >/dev/null 2>&1; then
    mysql -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket;" 2>/dev/null ||
      say "could not open root over TCP; set MYSQL_DSN to a user that can create databases"
  fi
}

ensure_redis() {
  if reachable "$REDIS_HOST" "$REDIS_PORT"; then return 0; fi
  if [ "$REDIS_HOST" != 127.0.0.1 ] && [ "$REDIS_HOST" != localhost ]; then
    say "Redis at $REDIS_HOST:$REDIS_PORT does not answer"; exit 1
  fi
  command -v redis-server >/dev/null 2>&1 || apt_install Redis redis-server
  say "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/instachat.log
  wait_for Redis "$REDIS_HOST" "$REDIS_PORT"
}

ensure_mysql
ensure_redis
say "MySQL at $MYSQL_HOST:$MYSQL_PORT and Redis at $REDIS_HOST:$REDIS_PORT are up"
