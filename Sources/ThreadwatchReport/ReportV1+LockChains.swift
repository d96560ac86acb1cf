import ThreadwatchModel

/// report v1 `lock_chains[]` (added to v1): WaitChains, for programs.
extension ReportV1 {
    public struct LockChain: Codable, Sendable, Equatable {
        public var holderTid: Int32
        public var holderName: String?
        public var holderDoing: String?
        public var waiters: [Int32]
        public var summary: String
        enum CodingKeys: String, CodingKey {
            case waiters, summary
            case holderTid = "holder_tid"
            case holderName = "holder_name"
            case holderDoing = "holder_doing"
        }

        func write(to w: inout JSONStreamWriter) {
            w.beginObject()
            w.field("holder_tid", Int(holderTid))
            w.field("holder_name", holderName)
            w.field("holder_doing", holderDoing)
            w.array("waiters", waiters) { w, tid in w.value(Int(tid)) }
            w.field("summary", summary)
            w.endObject()
        }
    }
}
