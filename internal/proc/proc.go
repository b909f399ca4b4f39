// Package proc starts the server processes that strata's tests run against (redis-server,
// nats-server, memcached) so that they die with the test binary, and tells when a paused one has
// really stopped. internal/redistest, internal/natstest and internal/memcachedtest use it.
package proc
