#!/usr/bin/env bash
# The runtime library's stress run (twfixture-runtime stress: mutexes,
# condvar, fibers, M:N pools with stealing, fiber mutexes across carriers)
# built with ThreadSanitizer, from the clang of the Swift toolchain in use.
# The runtime tells TSAN about its stack switches and kernel lock handovers
# (TWR_TSAN in Sources/CThreadwatchRuntime). Exit 0: every count exact and
# no report. Usage: scripts/tsan-stress.sh [build-dir]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
swift=$(readlink -f "$(command -v swift)")
toolchain=$(dirname "$(dirname "$swift")")
clang="$toolchain/bin/clang"
if [[ ! -x "$clang" ]]; then
    echo "tsan-stress: no clang next to swift ($clang): the Swift toolchain ships one; reinstall it" >&2
    exit 2
fi
out=${1:-$(mktemp -d)}
mkdir -p "$out"
# The static TSAN runtime of Swift's clang carries libdispatch interceptors:
# link the toolchain's libdispatch and BlocksRuntime for them.
"$clang" -fsanitize=thread -O1 -g -I "$root/Sources/CThreadwatchRuntime/include" \
    "$root"/Sources/CThreadwatchRuntime/*.c "$root/Sources/CThreadwatchRuntime/switch_x86_64.S" \
    "$root"/fixtures/twfixture-runtime/*.c -o "$out/stress-tsan" -lpthread \
    -L"$toolchain/lib/swift/linux" -ldispatch -lBlocksRuntime -Wl,-rpath,"$toolchain/lib/swift/linux"
TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$out/stress-tsan" stress
