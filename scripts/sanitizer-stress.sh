#!/usr/bin/env bash
# The runtime library's stress run (twfixture-runtime stress: mutexes,
# condvar, fibers, M:N pools with stealing, fiber mutexes across carriers)
# built twice with the clang of the Swift toolchain in use: with
# ThreadSanitizer (the runtime tells it about its stack switches and kernel
# lock handovers, TWR_TSAN in Sources/CThreadwatchRuntime), then with
# AddressSanitizer and its leak checker. Exit 0: every count exact and no
# report from either. Usage: scripts/sanitizer-stress.sh [build-dir]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
swift=$(readlink -f "$(command -v swift)")
toolchain=$(dirname "$(dirname "$swift")")
clang="$toolchain/bin/clang"
if [[ ! -x "$clang" ]]; then
    echo "sanitizer-stress: no clang next to swift ($clang): the Swift toolchain ships one; reinstall it" >&2
    exit 2
fi
out=${1:-$(mktemp -d)}
mkdir -p "$out"
sources=("$root"/Sources/CThreadwatchRuntime/*.c "$root/Sources/CThreadwatchRuntime/switch_x86_64.S" "$root"/fixtures/twfixture-runtime/*.c)
# The static TSAN runtime of Swift's clang carries libdispatch interceptors:
# link the toolchain's libdispatch and BlocksRuntime for them.
"$clang" -fsanitize=thread -O1 -g -I "$root/Sources/CThreadwatchRuntime/include" "${sources[@]}" \
    -o "$out/stress-tsan" -lpthread \
    -L"$toolchain/lib/swift/linux" -ldispatch -lBlocksRuntime -Wl,-rpath,"$toolchain/lib/swift/linux"
echo "== ThreadSanitizer"
TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$out/stress-tsan" stress
# Fiber stacks are mmap'd and switched without ASan's fiber calls: its
# fake stacks (use-after-return) would not follow them, so they are off.
# (gold warns once per ASan helper it cannot export; nothing is wrong.)
"$clang" -fsanitize=address -O1 -g -I "$root/Sources/CThreadwatchRuntime/include" "${sources[@]}" \
    -o "$out/stress-asan" -lpthread 2> >(grep -v "Cannot export local symbol" >&2)
echo "== AddressSanitizer"
ASAN_OPTIONS="detect_stack_use_after_return=0:detect_leaks=1:halt_on_error=1:exitcode=67" "$out/stress-asan" stress
