#if canImport(Glibc)
import Glibc
#endif

/// Runs a scan on one dedicated OS thread. The kernel accepts ptrace
/// requests and waitpid for a tracee only from the thread that attached;
/// Swift actors and dispatch queues do not promise one OS thread.
public enum TracerThread {
    private final class Job: @unchecked Sendable {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    public static func run<T>(_ body: @escaping () throws(ScanError) -> T) throws(ScanError) -> T {
        var result: Result<T, ScanError>?
        let job = Job {
            do throws(ScanError) { result = .success(try body()) } catch { result = .failure(error) }
        }
        let unmanaged = Unmanaged.passRetained(job)
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            let job = Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue()
            job.body()
            return nil
        }, unmanaged.toOpaque())
        if rc != 0 {
            unmanaged.release()
            throw ScanError(.invalidArgument, pid: 0, "could not start the tracer thread: \(String(cString: strerror(rc)))")
        }
        pthread_join(thread, nil)
        return try result!.get()
    }
}
