import ThreadwatchModel

/// report v1 `fibers[]`: the threadwatch runtime's fibers, like a goroutine dump.
extension ReportV1 {
    public struct Fiber: Codable, Sendable, Equatable {
        public var id: Int64
        public var name: String?
        public var state: String
        /// Always written: null when it has no carrier.
        public var carrierTid: Int32?
        /// The M:N pool it belongs to (added to v1); absent when bound to one scheduler.
        public var pool: UInt32? = nil
        public var blockedOn: BlockedOn?
        public var frames: [Frame]
        enum CodingKeys: String, CodingKey {
            case id, name, state, frames, pool
            case carrierTid = "carrier_tid"
            case blockedOn = "blocked_on"
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encodeIfPresent(name, forKey: .name)
            try c.encode(state, forKey: .state)
            try c.encode(carrierTid, forKey: .carrierTid)
            try c.encodeIfPresent(pool, forKey: .pool)
            try c.encodeIfPresent(blockedOn, forKey: .blockedOn)
            try c.encode(frames, forKey: .frames)
        }

        func write(to w: inout JSONStreamWriter) {
            w.beginObject()
            w.field("id", Int(id))
            w.field("name", name)
            w.field("state", state)
            w.key("carrier_tid")
            if let carrierTid { w.value(Int(carrierTid)) } else { w.null() }
            if let pool { w.field("pool", Int(pool)) }
            if let blockedOn { w.key("blocked_on"); blockedOn.write(to: &w) }
            w.array("frames", frames) { w, f in f.write(to: &w) }
            w.endObject()
        }
    }
}

/// report v1 `carriers[]` (added to v1): the threads that run fibers.
extension ReportV1 {
    public struct Carrier: Codable, Sendable, Equatable {
        public var tid: Int32
        /// Pool id; absent for a standalone scheduler.
        public var pool: UInt32?
        public var currentFiber: Int64?
        public var runnable: Int
        public var switches: UInt64
        public var steals: UInt64
        public var idle: Bool
        enum CodingKeys: String, CodingKey {
            case tid, pool, runnable, switches, steals, idle
            case currentFiber = "current_fiber"
        }

        func write(to w: inout JSONStreamWriter) {
            w.beginObject()
            w.field("tid", Int(tid))
            if let pool { w.field("pool", Int(pool)) }
            w.key("current_fiber")
            if let currentFiber { w.value(Int(currentFiber)) } else { w.null() }
            w.field("runnable", runnable)
            w.field("switches", Int(truncatingIfNeeded: switches))
            w.field("steals", Int(truncatingIfNeeded: steals))
            w.field("idle", idle)
            w.endObject()
        }
    }
}

extension ReportBuilder {
    static func fiber(_ f: FiberSnapshot) -> ReportV1.Fiber {
        var fiber = ReportV1.Fiber(id: f.id, name: f.name, state: f.state.rawValue, carrierTid: f.carrierTid,
                                   blockedOn: f.blockedOn.map(blockedOn), frames: f.frames.map(frame))
        fiber.pool = f.pool
        return fiber
    }

    static func carrier(_ c: RuntimeState.Carrier) -> ReportV1.Carrier {
        ReportV1.Carrier(tid: c.tid, pool: c.pool, currentFiber: c.currentFiber, runnable: c.runnable,
                         switches: c.switches, steals: c.steals, idle: c.idle)
    }
}

/// report v1 `threads[].runtime` (added to v1): the thread's TLS descriptor
/// of the threadwatch runtime, read through its fs_base.
extension ReportV1 {
    public struct RuntimeTLS: Codable, Sendable, Equatable {
        /// Runtime mutexes it holds, innermost last.
        public var held: [BlockedOn]
        public var waitingOn: String?
        public var currentFiber: Int64?
        enum CodingKeys: String, CodingKey {
            case held
            case waitingOn = "waiting_on"
            case currentFiber = "current_fiber"
        }
    }
}
