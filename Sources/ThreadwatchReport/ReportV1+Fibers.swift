import ThreadwatchModel

/// report v1 `fibers[]`: the threadwatch runtime's fibers, like a goroutine dump.
extension ReportV1 {
    public struct Fiber: Codable, Sendable, Equatable {
        public var id: Int64
        public var name: String?
        public var state: String
        /// Always written: null when it has no carrier.
        public var carrierTid: Int32?
        public var blockedOn: BlockedOn?
        public var frames: [Frame]
        enum CodingKeys: String, CodingKey {
            case id, name, state, frames
            case carrierTid = "carrier_tid"
            case blockedOn = "blocked_on"
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encodeIfPresent(name, forKey: .name)
            try c.encode(state, forKey: .state)
            try c.encode(carrierTid, forKey: .carrierTid)
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
            if let blockedOn { w.key("blocked_on"); blockedOn.write(to: &w) }
            w.array("frames", frames) { w, f in f.write(to: &w) }
            w.endObject()
        }
    }
}

extension ReportBuilder {
    static func fiber(_ f: FiberSnapshot) -> ReportV1.Fiber {
        ReportV1.Fiber(id: f.id, name: f.name, state: f.state.rawValue, carrierTid: f.carrierTid,
                       blockedOn: f.blockedOn.map(blockedOn), frames: f.frames.map(frame))
    }
}
