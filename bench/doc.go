// Package bench compares strata with other Go cache libraries on identical workloads, against a
// real redis-server that the benchmarks start themselves on a free loopback port (or the server
// STRATA_REDIS_URL names).
//
// It is its own module, so that the libraries it measures never enter strata's module graph.
// The benchmarks live in the test files; ./run runs the whole set in rounds and ./cmd/benchreport
// turns the output into the README's table and chart. The codec study (codec_test.go) measures
// the candidates for strata's default codec on the same record.
package bench
