// Package decorate turns functions that read from a slow source — repository methods, RPC
// clients — into cached, stampede-protected calls over a [tiered.Cache].
//
//	users, err := decorate.Func(cache, repo.User, decorate.Options{Name: "users.byID", Strategy: tiered.MediumTerm})
//	...
//	u, err := users.Call(ctx, 42) // same signature as repo.User
//
// A wrapper derives each call's key from its Name and a deterministic, unambiguous encoding of its
// arguments and reads through the cache with [tiered.Load]: every guarantee of the cache holds for
// it — one source call however many goroutines ask for the same arguments at once, the
// Options.Strategy applied by the cache (refresh-ahead, serve-stale-while-refresh, stale-if-error,
// negative caching: see tiered.Strategy), and no value stored by a source call that an
// invalidation of its key overtook. A wrapper never changes an entry's lifetime. On top of
// the cache it adds:
//
//   - negative caching with the source's own error: "not found" errors (sql.ErrNoRows and every
//     error that wraps it, such as pgx.ErrNoRows, by default) are cached for the strategy's
//     NegativeTTL, and a cached "not found" answers with an error that errors.Is matches with every
//     error of [Options.NotFound];
//   - invalidation by arguments ([Cached.Invalidate]), broadcast to other instances when the
//     cache has an invalidation bus;
//   - [Batch], for functions that load many IDs at once: one multi-key lookup per tier, one source
//     call for the IDs missing everywhere, one pipelined write back, and per-ID coalescing across
//     overlapping batches.
//
// Keys are the wrapper's Name followed by the encoded arguments in parentheses, each tagged with
// its kind and self-delimiting: Func named "users.byID" called with int64(42) reads the key
// "users.byID(i42;)" (plus the cache's Namespace in Redis); a string argument "ab" encodes as
// "s2:ab". Equal arguments always give the same key, in every process, and different arguments
// never do. A wrapper and a Batch with the same Name and ID type share their entries.
//
// Values returned by a wrapper are shared with other callers (and with the cache's L1): callers
// must not mutate them.
package decorate
