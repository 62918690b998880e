#!/usr/bin/env bash
# `make smoke`: runs the README's quick-start and production commands (and
# docs/clients.md's and docs/client-registration.md's) as written, against
# a fresh ./data in a temporary folder, and fails when the docs and the
# server drift apart.
#
# The commands are not repeated here: they are read from the fenced ```sh
# blocks that follow a `<!-- smoke: NAME -->` line in README.md,
# docs/clients.md and docs/client-registration.md. Only three things are
# rewritten, the same way in every block: `make run` starts the binary built once (`latchkey serve`, in the
# background, waiting for /readyz), `go run ./cmd/latchkey` is that binary,
# and port 8080 is a free port (the server listens there, so the issuer it
# derives is http://localhost:<port>). `docker compose up --build` runs one
# instance with the compose file's environment on the test Postgres and
# Redis (LATCHKEY_TEST_POSTGRES_DSN / LATCHKEY_TEST_REDIS_URL; without them
# that part is skipped loudly, or fails with LATCHKEY_TEST_REQUIRE_SERVICES=1).
#
# Every curl of a block must answer 2xx; a few answers are checked further
# below (the printed bootstrap curl, the issuer, introspection, ...).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
GO=${GO:-go}
READY_TIMEOUT=${READY_TIMEOUT:-120} # seconds; a busy CI machine is slow

for tool in curl jq openssl; do
  command -v "$tool" >/dev/null || { echo "smoke: $tool is not installed (the README's commands use it)" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/latchkey-smoke.XXXXXX")
pids=()
smoke_db=""
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$smoke_db" ]; then
    psql "$LATCHKEY_TEST_POSTGRES_DSN" -qc "drop database if exists $smoke_db" >/dev/null 2>&1 || true
  fi
  if [ $status -ne 0 ]; then
    echo "smoke: FAILED; server logs:" >&2
    for log in "$work"/*.log; do [ -e "$log" ] && { echo "--- $log" >&2; tail -n 30 "$log" >&2; }; done
  fi
  rm -rf "$work"
  exit $status
}
trap cleanup EXIT

fail() { echo "smoke: FAIL: $*" >&2; exit 1; }
step() { echo "smoke: $*"; }

# The caller's LATCHKEY_* settings must not leak into a fresh start.
for v in $(compgen -e); do
  case $v in LATCHKEY_TEST_*) ;; LATCHKEY_*) unset "$v" ;; esac
done

step "building latchkey"
mkdir -p "$work/bin"
(cd "$repo" && "$GO" build -o "$work/bin/latchkey" ./cmd/latchkey)
export PATH="$work/bin:$PATH"

# block FILE NAME prints the ```sh block after `<!-- smoke: NAME -->`.
block() {
  local text
  text=$(awk -v name="$2" '
    $0 == "<!-- smoke: " name " -->" { want = 1; next }
    want && /^```/ { if (inside) exit; inside = 1; next }
    inside { print }' "$repo/$1")
  [ -n "$text" ] || fail "$1 has no block marked <!-- smoke: $2 -->"
  printf '%s\n' "$text"
}

# free_port prints a port nobody listens on, below the kernel's ephemeral
# range: a port in that range can be the local end of some connection (a
# curl of a moment ago, in FIN_WAIT) without anybody listening on it, and
# then `latchkey serve` fails to bind it (seen in CI: port 43608).
free_port() {
  local p low=32768
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  [ "$low" -gt 12000 ] 2>/dev/null || low=32768
  for _ in $(seq 1 100); do
    p=$((10000 + RANDOM % (low - 10000)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  fail "no free port"
}

# curl is the documented curl, made strict: a failed request or an answer
# that is not 2xx fails the run. The body is printed as curl would.
curl() {
  local body status shown
  body=$(mktemp "$work/body.XXXXXX")
  shown=$(sed -E 's/Bearer [^ ]+/Bearer …/g; s/(token|refresh_token)=[^ ]+/\1=…/g' <<<"$*")
  status=$(command curl -o "$body" -w '%{http_code}' "$@") || fail "curl $shown: request failed"
  cat "$body"
  case $status in
    2??) ;;
    *) fail "curl $shown: HTTP $status: $(cat "$body")" ;;
  esac
}

# start_server starts `latchkey serve` in the current folder and waits,
# bounded, for /readyz. Its log is $work/$NAME.log.
start_server() {
  local log="$work/$NAME.log"
  latchkey serve >>"$log" 2>&1 &
  pids+=($!)
  local pid=$! deadline=$((SECONDS + READY_TIMEOUT))
  until command curl -fs -o /dev/null "http://127.0.0.1:$PORT/readyz"; do
    kill -0 "$pid" 2>/dev/null || fail "$NAME: latchkey serve exited: $(tail -n 5 "$log")"
    [ $SECONDS -lt $deadline ] || fail "$NAME: not ready within ${READY_TIMEOUT}s"
    sleep 0.2
  done
}

# stop_server stops the last server started and waits for it.
# log_has PATTERN waits (bounded) until the server's log holds PATTERN: the
# server buffers its log and writes it out every 100 ms.
log_has() {
  local log="$work/$NAME.log" deadline=$((SECONDS + 10))
  until grep -q "$1" "$log"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.1
  done
}

stop_server() {
  local pid=${pids[-1]}
  kill -TERM "$pid"
  wait "$pid" || fail "$NAME: latchkey serve exited with $? on SIGTERM"
  unset 'pids[-1]'
}

# run_block FILE NAME runs a block in this shell (its variables stay for
# the next blocks), rewritten as the header says.
run_block() {
  local script="$work/$2.sh"
  block "$1" "$2" | sed \
    -e "s/localhost:8080/localhost:$PORT/g" \
    -e "s/127\.0\.0\.1:8080/127.0.0.1:$PORT/g" \
    -e 's#go run \./cmd/latchkey#latchkey#g' \
    -e 's/^make run$/start_server/' \
    -e 's/^docker compose up --build$/start_production/' >"$script"
  step "$1: $2"
  # shellcheck disable=SC1090
  source "$script" >"$work/$2.out"
}

# --- 1. Quick start: generated credentials, the printed curl works -------
NAME=quickstart PORT=$(free_port)
export LATCHKEY_LISTEN=127.0.0.1:$PORT
mkdir "$work/quickstart" && cd "$work/quickstart"
run_block README.md quickstart
[ -s data/latchkey.db ] && [ -s data/master.key ] || fail "quickstart: no fresh ./data"
log_has '^Get a token for the admin user:' || fail "quickstart: no banner with a curl"
printed=$(grep -A1 '^Get a token for the admin user:' "$work/quickstart.log" | tail -n 1)
case $printed in *"http://localhost:$PORT/oauth2/token"*) ;; *) fail "the printed curl does not use the issuer http://localhost:$PORT: $printed" ;; esac
step "the printed curl: $(echo "$printed" | sed -E "s/(password=|demo:)'[^']*'/\1'…'/g")"
eval "$printed" | jq -e '.access_token and .token_type == "Bearer"' >/dev/null || fail "the printed curl got no token"
log_has "\"issuer\":\"http://localhost:$PORT\"" || fail "the issuer in force is not logged"
stop_server

# --- 2. Chosen credentials, "Using it", clients, docs/clients.md ---------
NAME=quickstart-chosen PORT=$(free_port)
export LATCHKEY_LISTEN=127.0.0.1:$PORT
mkdir "$work/chosen" && cd "$work/chosen"
run_block README.md quickstart-chosen
run_block README.md using-it
issuer=$(command curl -s "http://localhost:$PORT/.well-known/openid-configuration" | jq -r .issuer)
[ "$issuer" = "http://localhost:$PORT" ] || fail "discovery's issuer is $issuer, want http://localhost:$PORT"
grep -q '"active":true' "$work/using-it.out" || fail "the README's introspection did not answer active: $(cat "$work/using-it.out")"
# The README: revoking the refresh token ends its session and its access tokens.
for tok in "$ACCESS" "$REFRESH"; do
  jq -e '.active == false' <<<"$(command curl -s -u demo:demo-secret -d token="$tok" "http://localhost:$PORT/oauth2/introspect")" >/dev/null ||
    fail "a token of the revoked session is still active"
done
run_block README.md clients
grep -q '"client_id":"spa"' "$work/clients.out" || fail "the SPA client was not created: $(cat "$work/clients.out")"
grep -q '"access_token"' "$work/clients.out" || fail "the SPA client got no token: $(cat "$work/clients.out")"
run_block docs/clients.md clients-cli
run_block docs/clients.md clients-api
stop_server
# Set again on a bootstrapped database, the variables warn once.
start_server
log_has 'bootstrap variables have no effect' &&
  [ "$(grep -c 'bootstrap variables have no effect' "$work/$NAME.log")" = 1 ] || fail "no single warning about late bootstrap variables"
stop_server

# --- 2b. docs/client-registration.md, on the same database ---------------
export LATCHKEY_OAUTH2__REGISTRATION=open
start_server
run_block docs/client-registration.md registration-open
[ -n "$CLIENT_ID" ] && [ "${RAT#lk_rat_}" != "$RAT" ] || fail "registration: no client_id or registration access token: $(cat "$work/registration-open.out")"
run_block docs/client-registration.md registration-manage
[ "${RAT#lk_rat_}" != "$RAT" ] || fail "registration: the update gave no new registration access token"
stop_server
export LATCHKEY_OAUTH2__REGISTRATION=initial_access_token
start_server
run_block docs/client-registration.md registration-iat
grep -q '"registration_access_token":"lk_rat_' "$work/registration-iat.out" || fail "registration with an initial access token: $(cat "$work/registration-iat.out")"
run_block docs/client-registration.md registration-iat-api
stop_server
unset LATCHKEY_OAUTH2__REGISTRATION

# --- 3. Production: the README's master key, Postgres and Redis ----------
if [ -z "${LATCHKEY_TEST_POSTGRES_DSN:-}" ] || [ -z "${LATCHKEY_TEST_REDIS_URL:-}" ]; then
  if [ "${LATCHKEY_TEST_REQUIRE_SERVICES:-}" = 1 ]; then
    fail "the production part needs LATCHKEY_TEST_POSTGRES_DSN and LATCHKEY_TEST_REDIS_URL (LATCHKEY_TEST_REQUIRE_SERVICES=1)"
  fi
  echo "!!! SKIPPING the production part of the smoke test: LATCHKEY_TEST_POSTGRES_DSN or LATCHKEY_TEST_REDIS_URL is not set !!!" >&2
  step "ok (without the production part)"
  exit 0
fi
command -v psql >/dev/null || fail "psql is not installed"
unset LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD LATCHKEY_BOOTSTRAP_CLIENT_SECRET
smoke_db="latchkey_smoke_$$"
psql "$LATCHKEY_TEST_POSTGRES_DSN" -qc "create database $smoke_db" >/dev/null
dsn=$(sed -E "s#^(postgres(ql)?://[^/]*/)[^?]*#\1$smoke_db#" <<<"$LATCHKEY_TEST_POSTGRES_DSN")
# start_production is `docker compose up --build` without Docker: one
# instance with docker-compose.yml's latchkey environment (its services
# replaced by the test Postgres and Redis; a key prefix of its own).
start_production() {
  (
    export LATCHKEY_STORAGE__DRIVER=postgres LATCHKEY_STORAGE__POSTGRES__DSN="$dsn"
    export LATCHKEY_STORAGE__REDIS__URL="$LATCHKEY_TEST_REDIS_URL" LATCHKEY_STORAGE__REDIS__PREFIX="lk:smoke:$$:"
    export LATCHKEY_KEYS__MASTER_KEY="$LATCHKEY_MASTER_KEY" # as the compose file passes it
    start_server
    echo "${pids[-1]}" >"$work/production.pid"
    wait
  ) &
  pids+=($!)
  local deadline=$((SECONDS + READY_TIMEOUT))
  until command curl -fs -o /dev/null "http://127.0.0.1:$PORT/readyz"; do
    [ $SECONDS -lt $deadline ] || fail "production: not ready within ${READY_TIMEOUT}s"
    sleep 0.2
  done
}
NAME=production PORT=$(free_port)
export LATCHKEY_LISTEN=127.0.0.1:$PORT
mkdir "$work/production" && cd "$work/production"
run_block README.md production
grep -q '"status":"ok"\|ok' "$work/production.out" || fail "readyz: $(cat "$work/production.out")"
# In that same shell (LATCHKEY_MASTER_KEY exported) every command works.
(
  export LATCHKEY_STORAGE__DRIVER=postgres LATCHKEY_STORAGE__POSTGRES__DSN="$dsn"
  latchkey config check >/dev/null && latchkey keys list >/dev/null
) || fail "latchkey commands fail in the shell of the production snippet"
kill -TERM "$(cat "$work/production.pid")"
run_block README.md master-key-file
grep -q 'configuration ok' "$work/master-key-file.out" || fail "master-key-file: $(cat "$work/master-key-file.out")"
step "ok"
