#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests when no Chromium is on
# the PATH. Idempotent: a machine that has one is left alone. CI runs as
# root on Debian; elsewhere it uses sudo when it can and otherwise says what
# to install.
set -euo pipefail

for b in chromium chromium-browser google-chrome google-chrome-stable headless-shell; do
	if command -v "$b" >/dev/null 2>&1; then
		exit 0
	fi
done

sudo=""
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo="sudo"
	else
		echo "scripts/chromium.sh: no Chromium found; install Debian's chromium package" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
command -v chromium >/dev/null
