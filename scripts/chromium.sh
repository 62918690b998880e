#!/usr/bin/env bash
# Makes sure a headless browser for the hosted-page tests is installed:
# Debian's chromium package (handlers/pages/pagestest drives it through
# chromedp). Installs it when missing (as root, as CI runs) and fails loudly
# when it cannot. LATCHKEY_TEST_CHROMIUM may name another binary.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if [ -n "${LATCHKEY_TEST_CHROMIUM:-}" ] && [ -x "${LATCHKEY_TEST_CHROMIUM}" ]; then
  echo "chromium: using $LATCHKEY_TEST_CHROMIUM"
  exit 0
fi
if ! have chromium && ! have chromium-browser && ! have google-chrome; then
  if [ "$(id -u)" != 0 ]; then
    echo "chromium: not installed and not root: run 'sudo apt-get install chromium'" >&2
    exit 1
  fi
  echo "chromium: installing Debian's chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
for b in chromium chromium-browser google-chrome; do
  if have "$b"; then
    echo "chromium: $("$b" --version 2>/dev/null || echo "$b")"
    exit 0
  fi
done
echo "chromium: installation failed" >&2
exit 1
