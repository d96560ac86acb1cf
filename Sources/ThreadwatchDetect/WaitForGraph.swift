import ThreadwatchModel

/// Who waits for whom: an edge from each blocked thread to the holder of
/// what it waits for, where the holder is known. A thread waits for one
/// thing at a time, so each node has at most one outgoing edge.
public struct WaitForGraph: Sendable {
    public struct Edge: Sendable, Equatable {
        public var waiter: Int32
        public var holder: Int32
        public var lock: BlockedOn
    }

    /// Kinds whose holder is a definite thread. Condvars, semaphores and bare
    /// futexes have no owner; they never form an edge.
    public static let owningKinds: Set<BlockedOn.Kind> = [
        .mutex, .rwlockRead, .rwlockWrite, .join, .stdioLock, .runtimeMutex, .fiberMutex,
    ]

    public let edges: [Int32: Edge]
    public let liveTids: Set<Int32>

    public init(_ snapshot: Snapshot) {
        var edges: [Int32: Edge] = [:]
        for thread in snapshot.threads {
            // A one-time initialisation is a futex whose owner was inferred (OnceOwners).
            guard let lock = thread.blockedOn, Self.owningKinds.contains(lock.kind) || lock.oneTimeInit,
                  let holder = lock.ownerTid else { continue }
            edges[thread.tid] = Edge(waiter: thread.tid, holder: holder, lock: lock)
        }
        self.edges = edges
        self.liveTids = Set(snapshot.threads.map(\.tid))
    }

    /// Every cycle of two or more threads, each once, starting at its lowest tid.
    public func cycles() -> [[Edge]] {
        var state: [Int32: Int] = [:]  // 1 on the current path, 2 done
        var found: [[Edge]] = []
        for start in edges.keys.sorted() where state[start] == nil {
            var path: [Int32] = []
            var node = start
            while let edge = edges[node], state[node] == nil {
                state[node] = 1
                path.append(node)
                node = edge.holder
            }
            if state[node] == 1, let at = path.firstIndex(of: node) {
                let members = Array(path[at...])
                if members.count >= 2 {
                    let lowest = members.min()!
                    let rotated = members.drop { $0 != lowest } + members.prefix { $0 != lowest }
                    found.append(rotated.map { edges[$0]! })
                }
            }
            for tid in path { state[tid] = 2 }
        }
        return found.sorted { $0[0].waiter < $1[0].waiter }
    }

    /// Threads waiting on a lock they hold themselves.
    public func selfLoops() -> [Edge] {
        edges.values.filter { $0.waiter == $0.holder }.sorted { $0.waiter < $1.waiter }
    }

    /// Edges whose holder is not a thread of this process (it exited holding the lock).
    public func orphanedEdges() -> [Edge] {
        edges.values.filter { !liveTids.contains($0.holder) }.sorted { $0.waiter < $1.waiter }
    }

    /// The end of the chain that starts at `tid`: the first thread that waits
    /// for nothing owned (nil when the chain loops).
    public func chainEnd(from tid: Int32) -> Int32? {
        var seen: Set<Int32> = []
        var node = tid
        while let edge = edges[node] {
            guard seen.insert(node).inserted else { return nil }
            node = edge.holder
        }
        return node
    }
}
