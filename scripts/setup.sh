#!/usr/bin/env bash
# Installs what threadwatch needs on a fresh Debian 12 machine (run as root).
set -euo pipefail
# libc6-dbg: glibc's own symbols. Its exported names cover mutexes, rwlocks,
# joins, condvars and stdio; semaphores, pthread_once and malloc's insides
# (signal hazards) are told apart only by its internal function names.
packages=(libdw-dev libelf-dev libunwind-dev libcapstone-dev elfutils gdb time libc6-dbg)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The tests validate every report against the JSON schema with python3's jsonschema.
if ! python3 -c 'import jsonschema' 2>/dev/null; then
    echo "setup: installing python3 jsonschema"
    python3 -m pip install -q jsonschema
fi
echo "setup: ok"
