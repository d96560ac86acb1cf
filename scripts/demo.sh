#!/usr/bin/env bash
# Builds threadwatch, starts a deadlocked fixture (two threads in an ABBA
# cycle among idle workers), scans it, and cleans up.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product threadwatch
swift build -c release --product twfixture
bin=$(swift build -c release --show-bin-path)
out=$(mktemp)
"$bin/twfixture" abba >"$out" &
fixture=$!
trap 'kill -9 $fixture 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 100); do grep -q '^READY' "$out" && break; sleep 0.1; done
echo "== threadwatch --pid $fixture"
"$bin/threadwatch" --pid "$fixture" && status=0 || status=$?
echo "== exit status $status (1: error findings)"
echo "== threadwatch --pid $fixture --json | head -40"
"$bin/threadwatch" --pid "$fixture" --json | head -40 || true
