package httpcache

import (
	"context"

	sf "github.com/stratacache/strata/internal/flight"
)

// A flight is one origin request that concurrent misses of the same URL wait for: a call of
// strata's single-flight. The leader releases it with the stored entry, or with nil as soon as
// it knows its response will not be stored (followers then go to the origin themselves); the
// leader keeps streaming its own response meanwhile. Only the first release counts, so a leader
// ends every path with a deferred release(nil): a panic or runtime.Goexit in the handler still
// releases its followers.
type flight = sf.Call[*entry]

type flights struct{ g flightGroup }

type flightGroup = sf.Group[string, *entry]

// join returns the flight for key, creating it (leader == true) when there is none. ctx is the
// leader's request context.
func (f *flights) join(ctx context.Context, key string) (fl *flight, leader bool) {
	return f.g.Join(ctx, key)
}

// peek returns the flight for key, if any, without starting one.
func (f *flights) peek(key string) *flight { return f.g.Lookup(key) }

// release ends the flight with e (nil: followers fetch for themselves). Only the first call
// counts; a nil fl is ignored.
func (f *flights) release(key string, fl *flight, e *entry) {
	if fl != nil {
		f.g.Finish(key, fl, e, nil)
	}
}
