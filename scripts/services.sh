#!/usr/bin/env bash
# Makes sure the services the test suite talks to are up: PostgreSQL on
# 127.0.0.1:5432 (trust auth for local connections, database "test") and
# Redis on 127.0.0.1:6379. Installs them from Debian's packages when the
# machine has none, starts them when they are down, and fails loudly when it
# cannot. When everything already works it changes nothing (and needs no
# root); otherwise it must run as root.
#
#   bash scripts/services.sh [postgres] [redis]   # default: both
#
# SERVICES_PG_PORT (default 5432) picks the PostgreSQL cluster by its port;
# with PG_CLUSTER_CONF_ROOT (postgresql-common's own variable) the clusters'
# configuration lives elsewhere than /etc/postgresql. scripts/services_test.go
# uses both to run this script against a throwaway cluster.
set -euo pipefail

PG_PORT=${SERVICES_PG_PORT:-5432}
REDIS_PORT=6379
CONF_ROOT=${PG_CLUSTER_CONF_ROOT:-/etc/postgresql}
want_pg=1 want_redis=1
if [ $# -gt 0 ]; then
  want_pg=0 want_redis=0
  for arg in "$@"; do
    case $arg in
      postgres) want_pg=1 ;;
      redis) want_redis=1 ;;
      *) echo "services: unknown service \"$arg\" (postgres, redis)" >&2; exit 2 ;;
    esac
  done
fi

have() { command -v "$1" >/dev/null 2>&1; }
# pg_ok: PostgreSQL answers on the port as user postgres without a password.
pg_ok() {
  have psql && PGCONNECT_TIMEOUT=5 psql -w -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1
}
pg_has_test_db() {
  PGCONNECT_TIMEOUT=5 psql -w -h 127.0.0.1 -p "$PG_PORT" -U postgres -d test -Atc 'select 1' >/dev/null 2>&1
}
redis_ok() { have redis-cli && [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]; }

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "services: $1, which needs root: run it as root (sudo make services)" >&2
    exit 1
  fi
}

apt_install() {
  need_root "installing $*"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "$@" >/dev/null
}

# wait_for CHECK WHAT: up to 30 s for CHECK to succeed.
wait_for() {
  for _ in $(seq 1 60); do "$1" && return 0; sleep 0.5; done
  echo "services: $2 did not come up" >&2
  return 1
}

# pg_cluster prints "version name" of the cluster configured for PG_PORT.
pg_cluster() {
  have pg_lsclusters || return 0
  PG_CLUSTER_CONF_ROOT=$CONF_ROOT pg_lsclusters -h 2>/dev/null | awk -v p="$PG_PORT" '$3 == p { print $1, $2; exit }'
}

setup_postgres() {
  if pg_ok && pg_has_test_db; then return 0; fi
  local cluster
  cluster=$(pg_cluster)
  if [ -z "$cluster" ]; then
    [ "$PG_PORT" = 5432 ] || { echo "services: no PostgreSQL cluster is configured for port $PG_PORT" >&2; exit 1; }
    echo "services: installing PostgreSQL"
    apt_install postgresql postgresql-client
    cluster=$(pg_cluster)
    [ -n "$cluster" ] || { echo "services: PostgreSQL is installed but no cluster uses port $PG_PORT" >&2; exit 1; }
  fi
  local ver name conf
  read -r ver name <<<"$cluster"
  conf=$CONF_ROOT/$ver/$name
  if ! pg_ok; then
    need_root "making PostgreSQL $ver/$name trust local connections (test machine only) in $conf/pg_hba.conf"
    # The first matching line wins, so the trust lines go on top.
    if ! grep -q "latchkey-ci" "$conf/pg_hba.conf"; then
      sed -i '1i host all all 127.0.0.1/32 trust # latchkey-ci\nhost all all ::1/128 trust # latchkey-ci\nlocal all all trust # latchkey-ci' "$conf/pg_hba.conf"
    fi
    if PG_CLUSTER_CONF_ROOT=$CONF_ROOT pg_ctlcluster "$ver" "$name" status >/dev/null 2>&1; then
      # Running already (the package's install starts it): pg_hba.conf is
      # read again only on a reload.
      echo "services: reloading PostgreSQL $ver/$name"
      PG_CLUSTER_CONF_ROOT=$CONF_ROOT pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" reload
    else
      echo "services: starting PostgreSQL $ver/$name"
      PG_CLUSTER_CONF_ROOT=$CONF_ROOT pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start
    fi
    wait_for pg_ok "PostgreSQL on 127.0.0.1:$PG_PORT (as postgres, without a password)" || exit 1
  fi
  if ! pg_has_test_db; then
    psql -w -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qc 'create database test' >/dev/null
  fi
  echo "services: PostgreSQL is up on 127.0.0.1:$PG_PORT"
}

setup_redis() {
  if redis_ok; then return 0; fi
  if ! have redis-server; then
    echo "services: installing Redis"
    apt_install redis-server
  fi
  need_root "starting Redis"
  echo "services: starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for redis_ok "Redis" || exit 1
  echo "services: Redis is up on 127.0.0.1:$REDIS_PORT"
}

[ $want_pg = 1 ] && setup_postgres
[ $want_redis = 1 ] && setup_redis
echo "services: ready"
