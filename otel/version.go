package stratotel

// ScopeName is the instrumentation scope of the tracer and meter: the package's import path.
const ScopeName = "github.com/stratacache/strata/otel"

// Version is the version of this instrumentation, reported as the scope's version.
const Version = "0.1.0"
