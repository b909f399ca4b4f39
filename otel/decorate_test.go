package stratotel

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/stratacache/strata/decorate"
	"github.com/stratacache/strata/tiered"
)

// TestSpansDecorate: a decorate.Func call inside a request span gets a strata.load span under it.
// On a miss the span holds the tier walk and the loader, and the wrapped function's own spans nest
// under strata.loader; on an L1 hit (decorate's fast path, tiered.Peek and RecordHit) it is a
// strata.load span with the hit as attributes and no key hash, since RecordHit reports no key; a
// cached "not found" is a negative hit.
func TestSpansDecorate(t *testing.T) {
	secret := []byte("s3cret")
	h := newHarness(t, WithKeyHash(secret))
	c := h.newCache(t, cacheConfig{})
	calls := 0
	byID, err := decorate.Func(c, func(ctx context.Context, id int64) (User, error) {
		calls++
		_, span := h.app.Start(ctx, "db.query")
		defer span.End()
		if id < 0 {
			return User{}, sql.ErrNoRows
		}
		return newUser(id), nil
	}, decorate.Options{Name: "users.byID", Strategy: tiered.ShortTerm.WithNegativeTTL(tiered.ShortTerm.TTL)})
	if err != nil {
		t.Fatal(err)
	}
	call := func(ctx context.Context, id int64) {
		u, err := byID.Call(ctx, id)
		switch {
		case id < 0 && !errors.Is(err, sql.ErrNoRows):
			t.Fatalf("Call(%d) = %v, want sql.ErrNoRows", id, err)
		case id >= 0 && (err != nil || u.ID != id):
			t.Fatalf("Call(%d) = %d, %v", id, u.ID, err)
		}
	}

	miss := h.request(context.Background(), func(ctx context.Context) { call(ctx, 1) })
	hit := h.request(context.Background(), func(ctx context.Context) { call(ctx, 1) })
	if calls != 1 {
		t.Fatalf("source called %d times, want 1", calls)
	}
	wantTree(t, h.tree(miss, show...), `
strata.load strata.result=miss strata.l1.result=miss strata.loaded=true
  strata.tier.get strata.tier.name=redis strata.tier.level=2 strata.tier.hit=false
  strata.loader
    db.query
  strata.tier.set strata.tier.name=redis strata.tier.level=2
`)
	wantTree(t, h.tree(hit, show...), `
strata.load strata.result=hit strata.tier.name=otter strata.tier.level=1 strata.l1.result=hit
`)
	for _, tc := range []struct {
		sc   trace.SpanContext
		hash bool
	}{{miss, true}, {hit, false}} {
		s := h.span(t, tc.sc, "strata.load")
		if s.Parent().SpanID() != tc.sc.SpanID() || s.SpanKind() != trace.SpanKindInternal {
			t.Errorf("strata.load: parent %v kind %v, want an internal span under the request %v", s.Parent().SpanID(), s.SpanKind(), tc.sc.SpanID())
		}
		if tc.hash {
			wantAttrs(t, s, AttrKeyHash.String(keyHasher{secret: secret}.hash(byID.Key(1))))
		} else {
			wantNoAttr(t, s, AttrKeyHash)
		}
	}

	// A "not found" of the source is cached; the next call is a negative hit.
	h.request(context.Background(), func(ctx context.Context) { call(ctx, -1) })
	neg := h.request(context.Background(), func(ctx context.Context) { call(ctx, -1) })
	if calls != 2 {
		t.Fatalf("source called %d times, want 2", calls)
	}
	wantTree(t, h.tree(neg, show...), `
strata.load strata.result=negative strata.tier.name=otter strata.tier.level=1 strata.l1.result=negative
`)
	wantNoAttr(t, h.span(t, neg, "strata.load"), AttrErrorType)

	// Outside a sampled trace, neither a miss nor a hit starts a span.
	// (The source's db.query span is the application's, a root span here.)
	before := len(h.sr.Started())
	call(context.Background(), 2)
	call(context.Background(), 2)
	for _, s := range h.sr.Started()[before:] {
		if s.InstrumentationScope().Name == ScopeName {
			t.Errorf("span %s started outside a sampled trace", s.Name())
		}
	}
	if n := len(h.sr.Started()) - before; n != 1 {
		t.Errorf("%d spans started outside a sampled trace, want only the source's", n)
	}
}
