/// Byte counts as people read them: "8 MiB", "24 MiB", "1.5 GiB", "512 B".
public enum ByteCount {
    public static func text(_ bytes: UInt64) -> String {
        let units: [(size: UInt64, name: String)] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")]
        for unit in units where bytes >= unit.size {
            // Whole units from 10 up; one decimal below, dropped when it is 0
            // (a default 8 MiB stack plus its 4 KiB guard reads "8 MiB").
            let tenths = Int((Double(bytes) / Double(unit.size) * 10).rounded())
            if tenths >= 100 || tenths % 10 == 0 { return "\((tenths + 5) / 10) \(unit.name)" }
            return "\(tenths / 10).\(tenths % 10) \(unit.name)"
        }
        return "\(bytes) B"
    }
}
