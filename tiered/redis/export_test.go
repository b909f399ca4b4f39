package redistier

// ScriptedLeases makes b take leases with the script that stands in for SET NX GET on servers
// older than Redis 7.0.
func ScriptedLeases(b *Backend) { b.oldSet.Store(true) }
