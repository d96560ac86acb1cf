#!/usr/bin/env python3
"""Snapshot benchmark: threadwatch vs eu-stack vs gdb on the same live target.

The target is `twfixture many N --heartbeat`: N blocked worker threads plus a
"heartbeat" thread that wakes every 1 ms and remembers the longest gap
between wakeups. A tool that freezes the process shows up as that gap, the
latency a real service would have suffered. Before each measured run we send
`stall` (which resets the maximum); after it, `stall` again reads it.

For every thread count and every tool we record, over --reps runs:
  wall time      (median; fork+exec of the tool included, same for all)
  peak RSS       (ru_maxrss of the tool process, from os.wait4)
  heartbeat stall (median of the per-run maxima, minus the 1 ms period)
and after every run we check the target is alive, has all its threads and
none of them is stopped (state T/t) -- a tool must leave it running.

Goals (threadwatch default mode unless noted):
  wall time <= 1/5 of eu-stack's and <= 1/4 of gdb's
  peak RSS <= 48 MB (every threadwatch mode)
  --consistent stall <= 1/10 of gdb's stall
The stall ratio against eu-stack is printed for information.

Exit status: 0 done, 2 a target was left stopped/dead/changed (violation),
64 bad arguments. Standard library only.
"""

import argparse
import json
import os
import platform
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RSS_GOAL_MB = 48.0
WALL_GOAL_VS_EU = 1 / 5
WALL_GOAL_VS_GDB = 1 / 4
STALL_GOAL_VS_GDB = 1 / 10


def default_binary(name):
    """Prefer a release build (what users run), else the debug build."""
    for config in ("release", "debug"):
        path = os.path.join(REPO_ROOT, ".build", config, name)
        if os.path.exists(path):
            return path
    return os.path.join(REPO_ROOT, ".build", "debug", name)


def log(msg=""):
    print(msg, flush=True)


def warn(msg):
    print(f"warning: {msg}", file=sys.stderr, flush=True)


def violation_banner(msg):
    bar = "!" * 78
    print(f"\n{bar}\n!!! VIOLATION: {msg}\n{bar}\n", file=sys.stderr, flush=True)


class Fixture:
    """A `twfixture many N --heartbeat` process and its line protocol."""

    def __init__(self, path, n):
        self.path = path
        self.n = n
        self.proc = None
        self.buf = b""
        self.threads = None
        self.unanswered = 0  # stall requests whose reply has not been read

    def start(self, timeout=120.0):
        self.proc = subprocess.Popen(
            [self.path, "many", str(self.n), "--heartbeat"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,  # let its errors (e.g. pthread_create limits) show
        )
        deadline = time.monotonic() + timeout
        while True:
            line = self.readline(deadline - time.monotonic())
            if line is None:
                raise RuntimeError(f"fixture `many {self.n}` exited or timed out before READY")
            if line.startswith("THREADS "):
                self.threads = int(line.split()[1])
            if line.startswith("READY "):
                break
        return self.proc.pid

    @property
    def pid(self):
        return self.proc.pid

    def readline(self, timeout):
        """One protocol line, or None on EOF/timeout. Raw fd: select works."""
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + max(timeout, 0.0)
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode(errors="replace").strip()

    def stall_us(self, timeout=10.0):
        """Longest heartbeat gap (us) since the previous call; resets it.

        A reply that timed out may still arrive later; replies are matched to
        requests by count so a late one is never taken for the current one.
        """
        try:
            self.proc.stdin.write(b"stall\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        self.unanswered += 1
        deadline = time.monotonic() + timeout
        while True:
            line = self.readline(deadline - time.monotonic())
            if line is None:
                return None
            if line.startswith("STALL "):
                self.unanswered -= 1
                if self.unanswered == 0:
                    return int(line.split()[1])

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def check_state(self):
        """Problems with the target after a tool ran ([] if it is fine)."""
        if not self.alive():
            return [f"target pid {self.pid} is dead ({describe_status(self.proc.returncode)})"]
        problems = []
        task_dir = f"/proc/{self.pid}/task"
        try:
            tids = os.listdir(task_dir)
        except OSError as e:
            return [f"cannot list {task_dir}: {e}"]
        stopped = []
        for tid in tids:
            try:
                with open(f"{task_dir}/{tid}/stat") as f:
                    stat = f.read()
            except OSError:
                continue  # thread vanished between listdir and open
            state = stat[stat.rindex(")") + 2]
            if state in "Tt":
                stopped.append(f"{tid}:{state}")
        if stopped:
            shown = ", ".join(stopped[:10]) + (" ..." if len(stopped) > 10 else "")
            problems.append(f"{len(stopped)} of {len(tids)} threads left stopped ({shown})")
        if self.threads is not None and len(tids) != self.threads:
            problems.append(f"thread count changed: {len(tids)} now, {self.threads} at READY")
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("TracerPid:") and line.split()[1] != "0":
                        problems.append(f"still traced by pid {line.split()[1]}")
        except OSError:
            pass
        return problems

    def recover(self):
        """After a violation: wake a stopped target so later runs still measure."""
        if self.alive():
            try:
                os.kill(self.pid, signal.SIGCONT)
            except OSError:
                pass
            time.sleep(0.05)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.kill()  # SIGKILL also ends a stopped process
            except OSError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            warn(f"fixture pid {self.proc.pid} did not die after SIGKILL")
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except Exception:
                pass


def describe_status(returncode):
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with status {returncode}"


GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def run_tool(argv, timeout):
    """Run one tool to completion. Returns (wall_s, maxrss_kib, rc, out_path, err_tail, timed_out)."""
    out = tempfile.NamedTemporaryFile(prefix="twbench-out-", delete=False)
    err = tempfile.NamedTemporaryFile(prefix="twbench-err-", delete=False)
    env = dict(os.environ)
    env["DEBUGINFOD_URLS"] = ""  # never wait on the network for debuginfo
    timed_out = threading.Event()
    # exec() folds the pre-exec image's peak RSS into ru_maxrss, and a child
    # forked from this python starts as big as python: measure through GNU
    # time, whose own pre-exec image is small.
    rss_file = None
    if GNU_TIME:
        rss_file = tempfile.NamedTemporaryFile(prefix="twbench-rss-", delete=False)
        rss_file.close()
        argv = [GNU_TIME, "-f", "%M", "-o", rss_file.name] + list(argv)
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)

    def on_timeout():
        timed_out.set()
        try:
            proc.kill()
        except OSError:
            pass

    timer = threading.Timer(timeout, on_timeout)
    timer.start()
    try:
        # wait4 instead of Popen.wait: it also gives the child's rusage.
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)  # so Popen will not wait again
    out.close()
    err.close()
    with open(err.name, "rb") as f:
        err_tail = f.read()[-600:].decode(errors="replace").strip()
    os.unlink(err.name)
    maxrss = usage.ru_maxrss
    if rss_file is not None:
        try:
            with open(rss_file.name) as f:
                maxrss = int(f.read().strip().splitlines()[-1])
        except (OSError, ValueError, IndexError):
            pass
        os.unlink(rss_file.name)
    return wall, maxrss, proc.returncode, out.name, err_tail, timed_out.is_set()


def count_seen_threads(tool_kind, out_path):
    """How many threads the tool reported (sanity check), or a note."""
    try:
        with open(out_path, "rb") as f:
            data = f.read().decode(errors="replace")
    except OSError:
        return None, "no output"
    if tool_kind == "eu-stack":
        return sum(1 for line in data.splitlines() if line.startswith("TID ")), ""
    if tool_kind == "gdb":
        return sum(1 for line in data.splitlines() if line.startswith("Thread ")), ""
    if tool_kind == "threadwatch":
        try:
            doc = json.loads(data)
        except ValueError as e:
            return None, f"output is not JSON ({e})"
        threads = find_threads(doc)
        return (len(threads) if threads is not None else None), ""
    return None, ""


def find_threads(doc, depth=0):
    """Locate a `threads` list anywhere near the top of a report (schema-agnostic)."""
    if depth > 3:
        return None
    if isinstance(doc, dict):
        if isinstance(doc.get("threads"), list):
            return doc["threads"]
        for value in doc.values():
            found = find_threads(value, depth + 1)
            if found is not None:
                return found
    elif isinstance(doc, list) and len(doc) == 1:
        return find_threads(doc[0], depth + 1)
    return None


def tool_table(args):
    """(label, kind, argv template with {pid}) for every tool we can run."""
    tools = []
    tw = args.threadwatch
    if tw and os.access(tw, os.X_OK):
        tools.append(("threadwatch", "threadwatch", [tw, "--pid", "{pid}", "--json"]))
        tools.append(("tw --consistent", "threadwatch", [tw, "--pid", "{pid}", "--json", "--consistent"]))
        tools.append(("tw --proc-only", "threadwatch", [tw, "--pid", "{pid}", "--json", "--proc-only"]))
    else:
        log(f"threadwatch: not found or not executable at {tw}; skipping its rows")
    eu = shutil.which("eu-stack")
    if eu:
        tools.append(("eu-stack", "eu-stack", [eu, "-p", "{pid}"]))
    else:
        log("eu-stack: not installed (apt-get install elfutils); skipping its rows")
    if args.skip_gdb:
        log("gdb: skipped (--skip-gdb)")
    else:
        gdb = shutil.which("gdb")
        if gdb:
            tools.append((
                "gdb", "gdb",
                [gdb, "-nx", "-q", "-batch", "-iex", "set debuginfod enabled off",
                 "-p", "{pid}", "-ex", "thread apply all bt"],
            ))
        else:
            log("gdb: not installed; skipping its rows")
    return tools


def summarize(runs):
    ok = [r for r in runs if r["rc"] == 0 and not r["timed_out"]]
    use = ok if ok else runs
    walls = [r["wall_s"] for r in use]
    rss = [r["maxrss_kib"] for r in use]
    stalls = [r["stall_us"] for r in use if r["stall_us"] is not None]
    return {
        "ok_runs": len(ok),
        "runs": len(runs),
        "wall_s_median": statistics.median(walls) if walls else None,
        "wall_s_min": min(walls) if walls else None,
        "wall_s_max": max(walls) if walls else None,
        "peak_rss_mb": max(rss) / 1024.0 if rss else None,
        "stall_us_median": statistics.median(stalls) if stalls else None,
        "stall_us_max": max(stalls) if stalls else None,
        "threads_seen": use[-1].get("threads_seen") if use else None,
    }


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def print_table(n, expected_threads, rows):
    log(f"\n=== {n} workers ({expected_threads} threads in target) ===")
    header = f"{'tool':<17} {'ok':>5} {'wall ms (min-max)':>26} {'peak RSS MB':>12} {'stall us med/max':>18} {'threads':>8}"
    log(header)
    log("-" * len(header))
    for label, s in rows:
        wall = "-" if s["wall_s_median"] is None else (
            f"{s['wall_s_median'] * 1000:.1f} ({s['wall_s_min'] * 1000:.1f}-{s['wall_s_max'] * 1000:.1f})")
        stall = f"{fmt(s['stall_us_median'], '.0f')}/{fmt(s['stall_us_max'], '.0f')}"
        log(f"{label:<17} {s['ok_runs']:>2}/{s['runs']:<2} {wall:>26} {fmt(s['peak_rss_mb'], '.1f'):>12} "
            f"{stall:>18} {fmt(s['threads_seen'], 'd'):>8}")


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def evaluate_goals(n, summaries):
    """Goal lines for one thread count: (text, status) with status met/missed/n/a/info."""
    def usable(label):
        s = summaries.get(label)
        return s if s and s["ok_runs"] > 0 else None

    tw, cons, eu, gdb = usable("threadwatch"), usable("tw --consistent"), usable("eu-stack"), usable("gdb")
    goals = []

    def goal(name, value, limit, unit_fmt):
        if value is None:
            goals.append({"threads": n, "goal": name, "value": None, "limit": limit, "status": "n/a"})
        else:
            goals.append({"threads": n, "goal": name, "value": value, "limit": limit,
                          "status": "met" if value <= limit else "missed", "fmt": unit_fmt})

    goal("threadwatch wall / eu-stack wall", ratio(tw and tw["wall_s_median"], eu and eu["wall_s_median"]),
         WALL_GOAL_VS_EU, ".3f")
    goal("threadwatch wall / gdb wall", ratio(tw and tw["wall_s_median"], gdb and gdb["wall_s_median"]),
         WALL_GOAL_VS_GDB, ".3f")
    for label in ("threadwatch", "tw --consistent", "tw --proc-only"):
        s = usable(label)
        goal(f"{label} peak RSS MB", s and s["peak_rss_mb"], RSS_GOAL_MB, ".1f")
    goal("tw --consistent stall / gdb stall",
         ratio(cons and cons["stall_us_median"], gdb and gdb["stall_us_median"]), STALL_GOAL_VS_GDB, ".3f")
    # Information only: no target given for this one.
    for label in ("threadwatch", "tw --consistent", "tw --proc-only"):
        s = usable(label)
        r = ratio(s and s["stall_us_median"], eu and eu["stall_us_median"])
        goals.append({"threads": n, "goal": f"{label} stall / eu-stack stall", "value": r, "limit": None,
                      "status": "info" if r is not None else "n/a", "fmt": ".3f"})
    return goals


def print_goals(goals, with_count=False):
    for g in goals:
        value = "-" if g["value"] is None else format(g["value"], g.get("fmt", ".3f"))
        limit = "" if g["limit"] is None else f" (goal <= {g['limit']:.3g})"
        status = g["status"].upper() if g["status"] in ("met", "missed") else g["status"]
        where = f"{g['threads']:>5} workers: " if with_count else ""
        log(f"  [{status:>6}] {where}{g['goal']}: {value}{limit}")


def measure_idle(fixture, seconds=0.3):
    """Heartbeat noise floor with nothing attached."""
    fixture.stall_us()
    time.sleep(seconds)
    return fixture.stall_us()


def bench_one_count(args, n, tools, results, violations):
    fixture = Fixture(args.fixture, n)
    per_tool = {label: [] for label, _, _ in tools}
    idle = []
    try:
        t0 = time.monotonic()
        fixture.start()
        log(f"\nfixture many {n}: pid {fixture.pid}, {fixture.threads} threads, READY in "
            f"{time.monotonic() - t0:.2f} s")
        for rep in range(args.reps):
            idle.append(measure_idle(fixture))
            # Tools take turns within a repetition so slow drift hits all alike.
            for label, kind, template in tools:
                if not fixture.alive():
                    msg = (f"target for {n} workers (pid {fixture.pid}) died before {label} rep {rep + 1}: "
                           f"{describe_status(fixture.proc.returncode)}; restarting it")
                    violation_banner(msg)
                    violations.append(msg)
                    fixture.stop()
                    fixture = Fixture(args.fixture, n)
                    fixture.start()
                argv = [a.replace("{pid}", str(fixture.pid)) for a in template]
                fixture.stall_us()  # reset the heartbeat maximum
                wall, rss, rc, out_path, err_tail, timed_out = run_tool(argv, args.timeout)
                # State first: a target left stopped could not answer `stall`.
                problems = fixture.check_state()
                if problems:
                    fixture.recover()
                stall = fixture.stall_us()
                seen, note = count_seen_threads(kind, out_path)
                try:
                    os.unlink(out_path)
                except OSError:
                    pass
                run = {"rep": rep, "wall_s": wall, "maxrss_kib": rss, "stall_us": stall, "rc": rc,
                       "timed_out": timed_out, "threads_seen": seen, "note": note, "problems": problems}
                per_tool[label].append(run)
                status = "ok" if rc == 0 and not timed_out else ("TIMEOUT" if timed_out else f"rc={rc}")
                log(f"  rep {rep + 1}/{args.reps} {label:<17} {wall * 1000:9.1f} ms  {rss / 1024:7.1f} MB  "
                    f"stall {fmt(stall, 'd'):>8} us  {status}{('  ' + note) if note else ''}")
                if rc != 0 or timed_out:
                    if err_tail:
                        log("      stderr: " + err_tail.replace("\n", "\n              "))
                for p in problems:
                    msg = f"{label} ({n} workers, rep {rep + 1}): {p}"
                    violation_banner(msg)
                    violations.append(msg)
    finally:
        fixture.stop()

    summaries = {label: summarize(runs) for label, runs in per_tool.items() if runs}
    idle_vals = [v for v in idle if v is not None]
    rows = [("(idle, no tool)", {
        "ok_runs": len(idle_vals), "runs": len(idle), "wall_s_median": None, "wall_s_min": None,
        "wall_s_max": None, "peak_rss_mb": None,
        "stall_us_median": statistics.median(idle_vals) if idle_vals else None,
        "stall_us_max": max(idle_vals) if idle_vals else None, "threads_seen": None})]
    rows += [(label, summaries[label]) for label, _, _ in tools if label in summaries]
    print_table(n, fixture.threads, rows)
    goals = evaluate_goals(n, summaries)
    print_goals(goals)
    results.append({"workers": n, "target_threads": fixture.threads, "idle_stall_us": idle,
                    "tools": {label: {"argv": next(t for l, _, t in tools if l == label),
                                      "runs": per_tool[label], "summary": summaries.get(label)}
                              for label in per_tool},
                    "goals": goals})
    return goals


def tool_version(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).splitlines()[0].strip()
    except Exception:
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", default="10,1000,4000", help="worker counts, comma separated (default 10,1000,4000)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions per tool and count (default 3)")
    ap.add_argument("--threadwatch", default=default_binary("threadwatch"),
                    help="threadwatch binary (default: .build/release, else .build/debug)")
    ap.add_argument("--fixture", default=default_binary("twfixture"),
                    help="twfixture binary (default: .build/release, else .build/debug)")
    ap.add_argument("--skip-gdb", action="store_true", help="leave gdb out (it is slow at 4000 threads)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds before a tool run is killed (default 600)")
    ap.add_argument("--out", help="also write all results as JSON to this path")
    args = ap.parse_args()

    try:
        counts = [int(x) for x in args.threads.split(",") if x.strip()]
        if not counts or min(counts) <= 0:
            raise ValueError
    except ValueError:
        ap.error(f"--threads wants positive integers separated by commas, got {args.threads!r}")
    if args.reps < 1:
        ap.error("--reps must be >= 1")
    if not os.access(args.fixture, os.X_OK):
        print(f"error: fixture not found at {args.fixture}; build it with "
              f"`swift build --product twfixture` (in {REPO_ROOT}) or pass --fixture", file=sys.stderr)
        return 64
    if os.geteuid() != 0:
        warn("not root: attaching needs root or CAP_SYS_PTRACE (and ptrace_scope 0 for non-children)")

    tools = tool_table(args)
    if not tools:
        print("error: no tool to measure", file=sys.stderr)
        return 64

    log(f"fixture:     {args.fixture}")
    log(f"threadwatch: {args.threadwatch if any(k == 'threadwatch' for _, k, _ in tools) else '(skipped)'}")
    log(f"counts: {counts}, reps: {args.reps}, cpus: {os.cpu_count()}, kernel: {platform.release()}")

    results, violations, all_goals = [], [], []
    for n in counts:
        all_goals += bench_one_count(args, n, tools, results, violations)

    log("\n=== goals ===")
    print_goals(all_goals, with_count=True)
    missed = [g for g in all_goals if g["status"] == "missed"]
    log(f"\n{sum(g['status'] == 'met' for g in all_goals)} met, {len(missed)} missed, "
        f"{sum(g['status'] == 'n/a' for g in all_goals)} not measurable")
    if violations:
        violation_banner(f"{len(violations)} run(s) left the target stopped, dead or changed:\n  "
                         + "\n  ".join(violations))

    if args.out:
        doc = {
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "host": {"cpus": os.cpu_count(), "kernel": platform.release(), "machine": platform.machine()},
            "versions": {"eu-stack": tool_version(["eu-stack", "--version"]) if shutil.which("eu-stack") else None,
                         "gdb": tool_version(["gdb", "--version"]) if shutil.which("gdb") else None},
            "fixture": args.fixture,
            "threadwatch": args.threadwatch,
            "reps": args.reps,
            "results": results,
            "goals": all_goals,
            "violations": violations,
        }
        with open(args.out, "w") as f:
            json.dump(doc, f, indent=2)
        log(f"results written to {args.out}")
    return 2 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
