#!/usr/bin/env bash
# Makes sure wrk (the load generator of `make bench`) is installed: with
# apt-get on Debian and Ubuntu (as root, or through sudo), else it says how.
set -euo pipefail
command -v wrk >/dev/null 2>&1 && exit 0
if command -v apt-get >/dev/null 2>&1; then
	SUDO=""
	if [ "$(id -u)" != 0 ]; then
		if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
			echo "wrk is not installed: run 'apt-get install wrk' as root" >&2
			exit 1
		fi
	fi
	echo "installing wrk: $SUDO apt-get install -y wrk" >&2
	$SUDO apt-get install -y wrk >/dev/null 2>&1 || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y wrk >/dev/null; }
	command -v wrk >/dev/null 2>&1 && exit 0
fi
echo "wrk is not installed: 'sudo apt-get install wrk' (Debian, Ubuntu), 'brew install wrk' (macOS), or build https://github.com/wg/wrk" >&2
exit 1
