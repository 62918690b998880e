#!/usr/bin/env bash
# Makes sure the services the test suite talks to are up: PostgreSQL on
# 127.0.0.1:5432 (trust auth, database "test") and Redis on 127.0.0.1:6379.
# Installs them from Debian's packages when the machine has none, starts them
# when they are down, and fails loudly when it cannot.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }
pg_up() { have pg_isready && pg_isready -h 127.0.0.1 -p 5432 -q; }
redis_up() { have redis-cli && [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }

apt_install() {
  if [ "$(id -u)" != 0 ]; then echo "services: need root to install $*" >&2; return 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "$@" >/dev/null
}

if ! pg_up; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "services: installing PostgreSQL"
    apt_install postgresql postgresql-client
  fi
  ver=$(ls /etc/postgresql | sort -V | tail -n1)
  conf=/etc/postgresql/$ver/main
  # Trust local TCP connections (test machine only) and listen on loopback.
  if ! grep -q "latchkey-ci" "$conf/pg_hba.conf"; then
    sed -i '1i host all all 127.0.0.1/32 trust # latchkey-ci\nhost all all ::1/128 trust # latchkey-ci\nlocal all all trust # latchkey-ci' "$conf/pg_hba.conf"
  fi
  echo "services: starting PostgreSQL $ver"
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  pg_up || { echo "services: PostgreSQL did not come up" >&2; exit 1; }
fi
if ! psql -h 127.0.0.1 -U postgres -d test -Atc 'select 1' >/dev/null 2>&1; then
  psql -h 127.0.0.1 -U postgres -d postgres -c 'create database test' >/dev/null
fi

if ! redis_up; then
  if ! have redis-server; then
    echo "services: installing Redis"
    apt_install redis-server
  fi
  echo "services: starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 30); do redis_up && break; sleep 1; done
  redis_up || { echo "services: Redis did not come up" >&2; exit 1; }
fi
echo "services: PostgreSQL and Redis are up"
