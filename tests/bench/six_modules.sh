#!/bin/sh
# A no-change run of all six mcast.linux modules against one namespace host, timed (run as root).
# Usage: tests/bench/six_modules.sh [--runs N]     (see tests/bench/six_modules.py)
set -eu
cd "$(dirname "$0")/../.."
exec .venv/bin/python tests/bench/six_modules.py "$@"
