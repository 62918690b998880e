#!/usr/bin/env bash
# `make test`: the whole suite (go test -race -count=1 ./...), then a loud
# list of the suites that skipped because a service (Postgres, Redis, a
# program such as redis-server) was missing. go test only prints "ok" for a
# package whose tests skipped, so the skips are collected in a file
# (storagetest.SkipLogEnv) and printed here, at the end, to stderr.
# With LATCHKEY_TEST_REQUIRE_SERVICES=1 (CI) a missing service fails its
# test instead, so nothing is listed.
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}

skiplog=$(mktemp "${TMPDIR:-/tmp}/latchkey-skips.XXXXXX")
trap 'rm -f "$skiplog"' EXIT
export LATCHKEY_TEST_SKIP_LOG="$skiplog"

"$GO" test -race -count=1 -timeout 30m "$@" ./...
status=$?

if [ -s "$skiplog" ]; then
  root=$(pwd)
  {
    echo
    echo "!!! SKIPPED: $(sort -u "$skiplog" | wc -l) tests did not run because a service is missing:"
    # One line per package and reason, with the number of tests.
    sort -u "$skiplog" | awk -F'\t' -v root="$root/" '
      { dir = $1; sub("^" root, "", dir); key = dir "\t" $3; n[key]++ }
      END { for (k in n) { split(k, p, "\t"); printf "!!!   %-24s %3d tests: %s\n", p[1], n[k], p[2] } }' | sort
    echo "!!! To run them (README, \"The two commands\"):"
    echo "!!!   make services"
    echo "!!!   export LATCHKEY_TEST_POSTGRES_DSN='postgres://postgres@127.0.0.1:5432/test?sslmode=disable'"
    echo "!!!   export LATCHKEY_TEST_REDIS_URL='redis://127.0.0.1:6379/15'"
  } >&2
fi
exit $status
