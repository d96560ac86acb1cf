#!/usr/bin/env python3
"""Throughput of a false-sharing fixture with and without `threadwatch --sample`.

Starts `twfixture <scenario>` (default fs-global-counters), asks it for its own
operations per second ("rate" on stdin -> "RATE <ops in the next second>"),
first alone, then while threadwatch samples it, and prints the loss. Only the
sampling phase is measured: the watchpoint confirmation that follows (about
100 ms per 4 watched chunks) traps on every access of the watched line and
slows those threads far more, briefly; it is measured separately as "confirm".

usage: bench/false_sharing_bench.py [--build DIR] [--scenario NAME] [--rounds N]
"""
import argparse, os, statistics, subprocess, sys, time

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(os.path.dirname(__file__), "..", ".build", "debug"))
    ap.add_argument("--scenario", default="fs-global-counters")
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    fixture = subprocess.Popen([os.path.join(args.build, "twfixture"), args.scenario],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    try:
        pid = None
        for line in fixture.stdout:
            if line.startswith("READY "):
                pid = int(line.split()[1]); break
        def rate():
            fixture.stdin.write("rate\n"); fixture.stdin.flush()
            for line in fixture.stdout:
                if line.startswith("RATE "): return int(line.split()[1])
        rate()  # warm up
        base = [rate() for _ in range(args.rounds)]
        tw = subprocess.Popen([os.path.join(args.build, "threadwatch"), "--pid", str(pid), "--sample",
                               str(args.rounds + 1.5), "--json"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.2)
        during = [rate() for _ in range(args.rounds)]
        confirm = rate()  # spans the end of sampling and the watchpoint windows
        tw.wait()
        after = [rate() for _ in range(2)]
        b, d = statistics.median(base), statistics.median(during)
        print(f"scenario {args.scenario}: baseline {b:,.0f} ops/s, while sampling {d:,.0f} ops/s, "
              f"loss {100 * (b - d) / b:.1f}% (goal < 5%)")
        print(f"second with the watchpoint confirmation: {confirm:,.0f} ops/s ({100 * (b - confirm) / b:.1f}% loss); "
              f"after: {statistics.median(after):,.0f} ops/s")
    finally:
        fixture.kill(); fixture.wait()

if __name__ == "__main__":
    sys.exit(main())
