/// Streams report v1 with JSONStreamWriter; the field names are the
/// schema's, as in ReportV1's CodingKeys (a unit test decodes the stream
/// back into ReportV1 and compares).
extension ReportV1 {
    public func write(to w: inout JSONStreamWriter) { write(to: &w, threads: threads) }

    /// Writes the report with `threads` in place of `self.threads`, so a
    /// caller can convert them one at a time as they are written.
    public func write<S: Sequence>(to w: inout JSONStreamWriter, threads: S) where S.Element == Thread {
        w.beginObject()
        w.field("schema", schema)
        w.object("tool") { w in w.field("name", tool.name); w.field("version", tool.version) }
        w.field("generated_at", generatedAt)
        if let host {
            w.object("host") { w in
                w.field("hostname", host.hostname)
                w.field("kernel", host.kernel)
                w.field("boot_id", host.bootID)
            }
        }
        w.object("target") { w in
            w.field("pid", target.pid)
            w.field("ppid", target.ppid)
            w.field("comm", target.comm)
            w.field("exe", target.exe)
            w.array("cmdline", target.cmdline) { w, s in w.value(s) }
            w.field("thread_count", target.threadCount)
            w.field("libc", target.libc)
        }
        w.object("scan") { w in
            w.field("mode", scan.mode)
            w.field("attach", scan.attach)
            w.field("duration_us", scan.durationUs)
            w.field("stopped_us", scan.stoppedUs)
            w.array("warnings", scan.warnings) { w, s in w.value(s) }
        }
        w.array("threads", threads) { w, t in t.write(to: &w) }
        if let fibers { w.array("fibers", fibers) { w, f in f.write(to: &w) } }
        if let carriers { w.array("carriers", carriers) { w, c in c.write(to: &w) } }
        if let lockChains { w.array("lock_chains", lockChains) { w, c in c.write(to: &w) } }
        w.array("findings", findings) { w, f in f.write(to: &w) }
        w.endObject()
    }
}

extension ReportV1.Thread {
    func write(to w: inout JSONStreamWriter) {
        w.beginObject()
        w.field("tid", tid)
        w.field("name", name)
        w.field("state", state)
        w.field("fs_base", fsBase)
        w.field("pc", pc)
        w.field("sp", sp)
        if let stack {
            w.object("stack") { w in
                w.field("low", stack.low)
                w.field("high", stack.high)
                w.field("guard_bytes", Int(stack.guardBytes))
            }
        }
        if let syscall {
            w.object("syscall") { w in
                w.field("nr", syscall.nr)
                w.field("name", syscall.name)
                w.array("args", syscall.args) { w, a in w.value(a) }
            }
        }
        w.field("wchan", wchan)
        w.field("sig_blocked", sigBlocked)
        w.field("sig_pending", sigPending)
        if let sched {
            w.object("sched") { w in
                w.field("last_cpu", sched.lastCPU)
                w.field("policy", sched.policy)
                w.field("priority", sched.priority)
                w.field("nice", sched.nice)
                w.field("rt_priority", sched.rtPriority)
                w.field("voluntary_switches", sched.voluntarySwitches)
                w.field("involuntary_switches", sched.involuntarySwitches)
                w.field("exec_start_ms", sched.execStartMs)
                w.field("sum_exec_runtime_ms", sched.sumExecRuntimeMs)
            }
        }
        if let blockedOn { w.key("blocked_on"); blockedOn.write(to: &w) }
        w.array("frames", frames) { w, f in f.write(to: &w) }
        if let runtime {
            w.object("runtime") { w in
                w.array("held", runtime.held) { w, b in b.write(to: &w) }
                w.field("waiting_on", runtime.waitingOn)
                w.key("current_fiber")
                if let fiber = runtime.currentFiber { w.value(Int(fiber)) } else { w.null() }
            }
        }
        w.field("unwind_error", unwindError)
        w.endObject()
    }
}

extension ReportV1.Frame {
    func write(to w: inout JSONStreamWriter) {
        w.beginObject()
        w.field("pc", pc)
        w.field("function", function)
        w.field("offset", offset)
        w.field("module", module)
        w.field("file", file)
        w.field("line", line)
        w.field("inlined", inlined)
        w.endObject()
    }
}

extension ReportV1.BlockedOn {
    func write(to w: inout JSONStreamWriter) {
        w.beginObject()
        w.field("kind", kind)
        w.field("address", address)
        w.field("symbol", symbol)
        w.key("owner_tid")
        if let ownerTid { w.value(Int(ownerTid)) } else { w.null() }
        w.field("since_us", sinceUs)
        w.field("detail", detail)
        w.field("field", field)
        w.endObject()
    }
}

extension ReportV1.Finding {
    func write(to w: inout JSONStreamWriter) {
        w.beginObject()
        w.field("id", id)
        w.field("kind", kind)
        w.field("severity", severity)
        w.field("summary", summary)
        w.array("threads", threads) { w, t in w.value(Int(t)) }
        if let fibers { w.array("fibers", fibers) { w, id in w.value(Int(id)) } }
        if let cycle {
            w.array("cycle", cycle) { w, edge in
                w.beginObject()
                w.field("tid", edge.tid)
                w.key("lock")
                edge.lock.write(to: &w)
                w.field("holder_tid", edge.holderTid)
                w.array("frames", edge.frames) { w, f in f.write(to: &w) }
                w.endObject()
            }
        }
        if let evidence { w.key("evidence"); evidence.write(to: &w) }
        w.field("advice", advice)
        if let zombie {
            w.object("zombie") { w in
                w.field("start_routine", zombie.startRoutine)
                w.field("thread_descriptor", zombie.threadDescriptor)
                w.field("stack_bytes", zombie.stackBytes)
                w.field("first_seen", zombie.firstSeen)
            }
        }
        if let fork {
            w.object("fork") { w in
                w.field("parent_pid", fork.parentPid)
                w.field("child_pid", fork.childPid)
                w.field("forking_tid", fork.forkingTid)
                w.field("threads_at_fork", fork.threadsAtFork)
                w.field("exec_followed", fork.execFollowed)
                if let locks = fork.inheritedLocks { w.array("inherited_locks", locks) { w, lock in lock.write(to: &w) } }
            }
        }
        if let fs = falseSharing {
            w.object("false_sharing") { w in
                w.field("cache_line", fs.cacheLine)
                w.field("symbol", fs.symbol)
                w.array("writers", fs.writers) { w, t in
                    w.beginObject()
                    w.field("tid", t.tid)
                    w.array("offsets", t.offsets) { w, o in w.value(o) }
                    w.field("writes", t.writes)
                    w.field("reads", t.reads)
                    if let pc = t.pc { w.key("pc"); pc.write(to: &w) }
                    w.endObject()
                }
                w.field("method", fs.method)
            }
        }
        w.endObject()
    }
}

extension JSONValue {
    func write(to w: inout JSONStreamWriter) {
        switch self {
        case .string(let v): w.value(v)
        case .int(let v): w.value(v)
        case .bool(let v): w.value(v)
        case .array(let items):
            w.beginArray()
            for item in items { item.write(to: &w) }
            w.endArray()
        case .object(let fields):
            w.beginObject()
            for key in fields.keys.sorted() { w.key(key); fields[key]!.write(to: &w) }
            w.endObject()
        }
    }
}
