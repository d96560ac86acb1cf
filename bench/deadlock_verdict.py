#!/usr/bin/env python3
"""Time to a deadlock verdict on a large process (issue 3's benchmark).

Target: `twfixture abba --idle N`: two threads in an ABBA deadlock among
N + 4 sleeping threads. For threadwatch in --proc-only and in ptrace mode,
measures the wall time of `threadwatch --pid P --json` until it exits with
status 1 and a report holding the one expected deadlock (verdict), over
--reps runs, and prints the medians beside the goal (proc-only < 200 ms).
The time includes the confirming second look (--confirm-ms, default 50).
"""
import argparse, json, os, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default(name):
    for config in ("release", "debug"):
        path = os.path.join(ROOT, ".build", config, name)
        if os.access(path, os.X_OK):
            return path
    return os.path.join(ROOT, ".build", "debug", name)


def start_fixture(fixture, idle):
    proc = subprocess.Popen([fixture, "abba", "--idle", str(idle)], stdout=subprocess.PIPE, text=True)
    lines = []
    deadline = time.time() + 60
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.strip())
        if line.startswith("READY"):
            return proc, lines
    proc.kill()
    sys.exit("fixture did not get READY")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2000, help="threads in the target (default 2000)")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threadwatch", default=default("threadwatch"))
    ap.add_argument("--fixture", default=default("twfixture"))
    args = ap.parse_args()

    proc, lines = start_fixture(args.fixture, max(0, args.threads - 7))
    try:
        cycle = sorted(int(x) for x in next(l for l in lines if l.startswith("CYCLE")).split()[1:])
        pid = proc.pid
        count = len(os.listdir(f"/proc/{pid}/task"))
        print(f"target: pid {pid}, {count} threads, expected cycle {cycle}")
        results = {}
        for mode, extra in (("proc-only", ["--proc-only"]), ("ptrace", [])):
            times = []
            for _ in range(args.reps):
                t0 = time.perf_counter()
                run = subprocess.run([args.threadwatch, "--pid", str(pid), "--json"] + extra,
                                     capture_output=True, text=True)
                elapsed = time.perf_counter() - t0
                report = json.loads(run.stdout)
                found = [sorted(f["threads"]) for f in report["findings"] if f["kind"] == "deadlock"]
                if run.returncode != 1 or found != [cycle]:
                    sys.exit(f"{mode}: no correct verdict (status {run.returncode}, deadlocks {found})")
                times.append(elapsed * 1000)
            results[mode] = statistics.median(times)
            print(f"{mode:10s} verdict in {results[mode]:7.1f} ms median "
                  f"(min {min(times):.1f}, max {max(times):.1f}, {args.reps} runs)")
        goal = results["proc-only"] < 200
        print(f"[{'   MET' if goal else 'MISSED'}] proc-only time to verdict {results['proc-only']:.1f} ms (goal < 200 ms)")
        states = {open(f"/proc/{pid}/task/{t}/stat").read().rsplit(")", 1)[1].split()[0]
                  for t in os.listdir(f"/proc/{pid}/task")}
        if states & {"t", "T"}:
            sys.exit("VIOLATION: target left stopped")
    finally:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    main()
