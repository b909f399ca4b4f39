package stratotel

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/stratacache/strata/internal/loadwait"
	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
)

var show = []attribute.Key{AttrResult, AttrTierName, AttrTierLevel, AttrL1Result, AttrTierHit, AttrLoaded, AttrPromoted, AttrCoalesced}

func loadUser(calls *int, id int64) func(context.Context) (User, error) {
	return func(context.Context) (User, error) {
		*calls++
		return newUser(id), nil
	}
}

func TestSpansL1Hit(t *testing.T) {
	h := newHarness(t)
	c := h.newCache(t, cacheConfig{})
	ctx := context.Background()
	if err := c.Set(ctx, "user:1", newUser(1), tiered.ShortTerm); err != nil {
		t.Fatal(err)
	}
	calls := 0
	sc := h.request(ctx, func(ctx context.Context) {
		u, err := tiered.Load(ctx, c, "user:1", tiered.ShortTerm, loadUser(&calls, 1))
		if err != nil || u.ID != 1 {
			t.Fatalf("Load = %v, %v", u.ID, err)
		}
	})
	if calls != 0 {
		t.Fatalf("loader called %d times on an L1 hit", calls)
	}
	wantTree(t, h.tree(sc, show...), `
strata.load strata.result=hit strata.tier.name=otter strata.tier.level=1 strata.l1.result=hit
`)
	s := h.span(t, sc, "strata.load")
	if s.SpanKind() != trace.SpanKindInternal {
		t.Errorf("kind %v, want internal", s.SpanKind())
	}
	if s.Status().Code != codes.Unset {
		t.Errorf("status %v on a hit", s.Status())
	}
	if s.InstrumentationScope().Name != ScopeName || s.InstrumentationScope().Version != Version {
		t.Errorf("scope %+v", s.InstrumentationScope())
	}
	wantNoAttr(t, s, AttrLoaded, AttrCoalesced, AttrPromoted, AttrKeyHash, AttrErrorType)
}

func TestSpansL2HitWithPromotion(t *testing.T) {
	h := newHarness(t)
	ns := "otel-test:" + t.Name() + ":"
	writer := h.newCache(t, cacheConfig{namespace: ns})
	reader := h.newCache(t, cacheConfig{namespace: ns}) // another process: its own L1, the same Redis
	ctx := context.Background()
	if err := writer.Set(ctx, "user:2", newUser(2), tiered.ShortTerm); err != nil {
		t.Fatal(err)
	}
	calls := 0
	sc := h.request(ctx, func(ctx context.Context) {
		if _, err := tiered.Load(ctx, reader, "user:2", tiered.ShortTerm, loadUser(&calls, 2)); err != nil {
			t.Fatal(err)
		}
	})
	if calls != 0 {
		t.Fatalf("loader called %d times on an L2 hit", calls)
	}
	wantTree(t, h.tree(sc, show...), `
strata.load strata.result=hit strata.tier.name=redis strata.tier.level=2 strata.l1.result=miss strata.promoted=1
  strata.tier.get strata.tier.name=redis strata.tier.level=2 strata.tier.hit=true
`)
	get := h.span(t, sc, "strata.tier.get")
	if get.SpanKind() != trace.SpanKindClient {
		t.Errorf("tier span kind %v, want client", get.SpanKind())
	}
	wantAttrs(t, get, AttrTierCall.String("get"))

	// The promoted copy answers the next read from L1.
	sc = h.request(ctx, func(ctx context.Context) {
		if _, err := tiered.Load(ctx, reader, "user:2", tiered.ShortTerm, loadUser(&calls, 2)); err != nil {
			t.Fatal(err)
		}
	})
	wantTree(t, h.tree(sc, AttrL1Result), "strata.load strata.l1.result=hit\n")
}

func TestSpansMissWithLoad(t *testing.T) {
	h := newHarness(t)
	c := h.newCache(t, cacheConfig{})
	sc := h.request(context.Background(), func(ctx context.Context) {
		_, err := tiered.Load(ctx, c, "user:3", tiered.ShortTerm, func(ctx context.Context) (User, error) {
			// The loader's own work nests under strata.loader.
			_, span := h.app.Start(ctx, "db.query")
			defer span.End()
			return newUser(3), nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	wantTree(t, h.tree(sc, show...), `
strata.load strata.result=miss strata.l1.result=miss strata.loaded=true
  strata.tier.get strata.tier.name=redis strata.tier.level=2 strata.tier.hit=false
  strata.loader
    db.query
  strata.tier.set strata.tier.name=redis strata.tier.level=2
`)
	load := h.span(t, sc, "strata.load")
	wantNoAttr(t, load, AttrTierName, AttrTierLevel, AttrCoalesced)
}

func TestSpansLoaderError(t *testing.T) {
	h := newHarness(t)
	c := h.newCache(t, cacheConfig{})
	boom := errors.New("database down")
	sc := h.request(context.Background(), func(ctx context.Context) {
		if _, err := tiered.Load(ctx, c, "user:4", tiered.ShortTerm, func(context.Context) (User, error) { return User{}, boom }); !errors.Is(err, boom) {
			t.Fatalf("Load error %v, want %v", err, boom)
		}
		// "Not found" is an outcome, not a failure.
		_, err := tiered.Load(ctx, c, "user:5", tiered.ShortTerm.WithNegativeTTL(time.Minute), func(context.Context) (User, error) { return User{}, tiered.ErrNotFound })
		if !errors.Is(err, tiered.ErrNotFound) {
			t.Fatalf("Load error %v, want ErrNotFound", err)
		}
		_, err = tiered.Load(ctx, c, "user:5", tiered.ShortTerm, loadUser(new(int), 5))
		if !errors.Is(err, tiered.ErrNotFound) {
			t.Fatalf("Load error %v, want ErrNotFound", err)
		}
	})
	var loads, loaders []sdktrace.ReadOnlySpan
	for _, s := range h.sr.Ended() {
		switch s.Name() {
		case "strata.load":
			loads = append(loads, s)
		case "strata.loader":
			loaders = append(loaders, s)
		}
	}
	if len(loads) != 3 || len(loaders) != 2 {
		t.Fatalf("%d load and %d loader spans, want 3 and 2:\n%s", len(loads), len(loaders), h.tree(sc))
	}
	for _, s := range []sdktrace.ReadOnlySpan{loads[0], loaders[0]} {
		if s.Status().Code != codes.Error || s.Status().Description != "database down" {
			t.Errorf("%s status %+v, want error", s.Name(), s.Status())
		}
		wantAttrs(t, s, AttrErrorType.String("*errors.errorString"))
	}
	for _, s := range []sdktrace.ReadOnlySpan{loads[1], loaders[1], loads[2]} {
		if s.Status().Code != codes.Unset {
			t.Errorf("%s status %+v on not found", s.Name(), s.Status())
		}
		wantNoAttr(t, s, AttrErrorType)
	}
	wantAttrs(t, loads[2], AttrResult.String("negative"), AttrL1Result.String("negative"))
}

func TestSpansCoalescedWaiter(t *testing.T) {
	h := newHarness(t)
	c := h.newCache(t, cacheConfig{})
	ctx := context.Background()
	entered, release := make(chan struct{}), make(chan struct{})
	loader := func(context.Context) (User, error) {
		close(entered)
		<-release
		return newUser(6), nil
	}
	var leaderSC, waiterSC trace.SpanContext
	var wg sync.WaitGroup
	wg.Go(func() {
		leaderSC = h.request(ctx, func(ctx context.Context) {
			if _, err := tiered.Load(ctx, c, "user:6", tiered.ShortTerm, loader); err != nil {
				t.Error(err)
			}
		})
	})
	<-entered
	blocked := loadwait.Blocked()
	wg.Go(func() {
		waiterSC = h.request(ctx, func(ctx context.Context) {
			if _, err := tiered.Load(ctx, c, "user:6", tiered.ShortTerm, loader); err != nil {
				t.Error(err)
			}
		})
	})
	loadwait.Wait(t, blocked+1) // the waiter has joined the running load
	close(release)
	wg.Wait()

	wantTree(t, h.tree(leaderSC, show...), `
strata.load strata.result=miss strata.l1.result=miss strata.loaded=true
  strata.tier.get strata.tier.name=redis strata.tier.level=2 strata.tier.hit=false
  strata.loader
  strata.tier.set strata.tier.name=redis strata.tier.level=2
`)
	wantTree(t, h.tree(waiterSC, show...), `
strata.load strata.result=miss strata.l1.result=miss strata.loaded=true strata.coalesced=true
`)
	leader, waiter := h.span(t, leaderSC, "strata.load"), h.span(t, waiterSC, "strata.load")
	if len(waiter.Links()) != 1 {
		t.Fatalf("waiter has %d links, want 1", len(waiter.Links()))
	}
	if got := waiter.Links()[0].SpanContext; got.SpanID() != leader.SpanContext().SpanID() || got.TraceID() != leader.SpanContext().TraceID() {
		t.Errorf("waiter links to %v, want the leader's span %v", got, leader.SpanContext())
	}
	if len(leader.Links()) != 0 {
		t.Errorf("leader has links %v", leader.Links())
	}
}

func TestSpansStaleServe(t *testing.T) {
	h := newHarness(t)
	c := h.newCache(t, cacheConfig{})
	ctx := context.Background()
	s := tiered.Custom(50 * time.Millisecond).WithStale(time.Minute)
	calls := 0
	if _, err := tiered.Load(ctx, c, "user:7", s, loadUser(&calls, 7)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(80 * time.Millisecond)
	sc := h.request(ctx, func(ctx context.Context) {
		if _, err := tiered.Load(ctx, c, "user:7", s, loadUser(&calls, 7)); err != nil {
			t.Fatal(err)
		}
	})
	waitFor(t, func() bool {
		for _, sp := range h.sr.Ended() {
			if sp.Name() == "strata.refresh" {
				return true
			}
		}
		return false
	})
	wantTree(t, h.tree(sc, show...), `
strata.load strata.result=stale strata.tier.name=otter strata.tier.level=1 strata.l1.result=stale
  strata.refresh strata.loaded=true
    strata.tier.get strata.tier.name=redis strata.tier.level=2 strata.tier.hit=true
    strata.loader
    strata.tier.set strata.tier.name=redis strata.tier.level=2
`)
	if calls != 2 {
		t.Errorf("loader called %d times, want 2 (load, refresh)", calls)
	}
}

func TestSpansRedisTimeout(t *testing.T) {
	srv := redistest.Start(t)
	h := newHarness(t)
	c := h.newCache(t, cacheConfig{rdb: srv.Client(t), timeout: 50 * time.Millisecond, breaker: tiered.BreakerOptions{Failures: 2, Cooldown: time.Minute}})
	ctx := context.Background()
	if err := c.Set(ctx, "warm", 1, tiered.ShortTerm); err != nil { // opens the connection
		t.Fatal(err)
	}
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Resume() })

	calls := 0
	sc := h.request(ctx, func(ctx context.Context) {
		start := time.Now()
		if _, err := tiered.Load(ctx, c, "user:8", tiered.ShortTerm, loadUser(&calls, 8)); err != nil {
			t.Fatalf("fail-open Load returned %v", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Load took %v with a 50ms tier timeout", d)
		}
	})
	wantTree(t, h.tree(sc, append(show, AttrTierTimeout, AttrErrorType)...), `
strata.load strata.result=miss strata.l1.result=miss strata.loaded=true
  strata.tier.get strata.tier.name=redis strata.tier.level=2 strata.tier.timeout=true error.type=timeout
  strata.loader
  strata.tier.set strata.tier.name=redis strata.tier.level=2 strata.tier.timeout=true error.type=timeout
`)
	get := h.span(t, sc, "strata.tier.get")
	if get.Status().Code != codes.Error || !strings.Contains(get.Status().Description, "timed out") {
		t.Errorf("tier span status %+v, want a timeout error", get.Status())
	}
	if d := get.EndTime().Sub(get.StartTime()); d < 40*time.Millisecond || d > time.Second {
		t.Errorf("tier span lasted %v, want about the 50ms timeout", d)
	}
	if load := h.span(t, sc, "strata.load"); load.Status().Code != codes.Unset {
		t.Errorf("the operation failed open, its status is %+v", load.Status())
	}

	// Two failures opened the breaker: the next read skips Redis, which its span records.
	sc = h.request(ctx, func(ctx context.Context) {
		if _, err := tiered.Load(ctx, c, "user:9", tiered.ShortTerm, loadUser(&calls, 9)); err != nil {
			t.Fatal(err)
		}
	})
	wantTree(t, h.tree(sc, show...), `
strata.load strata.result=miss strata.l1.result=miss strata.loaded=true
  strata.loader
`)
	load := h.span(t, sc, "strata.load")
	var skipped []string
	for _, e := range load.Events() {
		if e.Name == eventTierSkip {
			set := attribute.NewSet(e.Attributes...)
			skipped = append(skipped, set.Encoded(attribute.DefaultEncoder()))
		}
	}
	want := []string{
		"strata.breaker.state=open,strata.tier.call=get,strata.tier.level=2,strata.tier.name=redis",
		"strata.breaker.state=open,strata.tier.call=set,strata.tier.level=2,strata.tier.name=redis",
	}
	if strings.Join(skipped, "\n") != strings.Join(want, "\n") {
		t.Errorf("skip events:\n%s\nwant:\n%s", strings.Join(skipped, "\n"), strings.Join(want, "\n"))
	}
}

func TestSpansSetAndInvalidate(t *testing.T) {
	h := newHarness(t)
	c := h.newCache(t, cacheConfig{})
	sc := h.request(context.Background(), func(ctx context.Context) {
		if err := c.Set(ctx, "user:10", newUser(10), tiered.ShortTerm); err != nil {
			t.Fatal(err)
		}
		if err := c.Invalidate(ctx, "user:10"); err != nil {
			t.Fatal(err)
		}
		if _, found, err := tiered.Get[User](ctx, c, "user:10"); err != nil || found {
			t.Fatalf("Get after Invalidate = %v, %v", found, err)
		}
	})
	wantTree(t, h.tree(sc, AttrResult, AttrL1Result, AttrTierCall), `
strata.set
  strata.tier.set strata.tier.call=set
strata.invalidate
  strata.tier.delete strata.tier.call=delete
strata.get strata.result=miss strata.l1.result=miss
  strata.tier.get strata.tier.call=get
`)
}

// TestSpansBatch: SetMany and GetMany (decorate.Batch's calls) are operations with their keys
// counted, and their batch calls to Redis are CLIENT spans under them.
func TestSpansBatch(t *testing.T) {
	h := newHarness(t)
	ns := fmt.Sprintf("otel-test:%s:%d:", t.Name(), time.Now().UnixNano())
	writer := h.newCache(t, cacheConfig{namespace: ns})
	reader := h.newCache(t, cacheConfig{namespace: ns}) // an empty L1: GetMany goes to Redis
	sc := h.request(context.Background(), func(ctx context.Context) {
		values := []tiered.BatchValue{{Key: "user:1", Value: newUser(1)}, {Key: "user:2", Value: newUser(2)}, {Key: "user:3", NotFound: true}}
		if err := writer.SetMany(ctx, values, tiered.ShortTerm.WithNegativeTTL(time.Minute)); err != nil {
			t.Fatal(err)
		}
		got, err := tiered.GetMany[User](ctx, reader, []string{"user:1", "user:2", "user:3", "user:4"})
		if err != nil {
			t.Fatal(err)
		}
		if !got[0].Found || !got[1].Found || !got[2].Negative || got[3].Found || got[3].Negative {
			t.Fatalf("GetMany = %+v", got)
		}
	})
	wantTree(t, h.tree(sc, AttrBatchKeys, AttrBatchFound, AttrTierName, AttrTierCall), `
strata.set_many strata.batch.keys=3
  strata.tier.set strata.tier.name=redis strata.tier.call=set
strata.get_many strata.batch.keys=4 strata.batch.found=3
  strata.tier.get strata.tier.name=redis strata.tier.call=get
`)
	if s := h.span(t, sc, "strata.tier.get"); s.SpanKind() != trace.SpanKindClient {
		t.Errorf("strata.tier.get kind %v, want client", s.SpanKind())
	}
	m := h.collect(t)
	for _, op := range []string{"get_many", "set_many"} {
		if n := histCount(t, m, "strata.cache.operation.duration", AttrOperation.String(op)); n != 1 {
			t.Errorf("%s durations recorded: %d, want 1", op, n)
		}
	}
}

func TestNoSpansOutsideSampledTrace(t *testing.T) {
	h := newHarness(t)
	c := h.newCache(t, cacheConfig{})
	ctx := context.Background()
	calls := 0
	// No parent span at all.
	if _, err := tiered.Load(ctx, c, "user:11", tiered.ShortTerm, loadUser(&calls, 11)); err != nil {
		t.Fatal(err)
	}
	// A parent that was not sampled.
	unsampled := trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1},
	}))
	if _, err := tiered.Load(unsampled, c, "user:11", tiered.ShortTerm, loadUser(&calls, 11)); err != nil {
		t.Fatal(err)
	}
	if _, err := tiered.Load(unsampled, c, "user:12", tiered.ShortTerm, loadUser(&calls, 12)); err != nil {
		t.Fatal(err)
	}
	// A bare remote span context, even sampled: no local span of the trace is live here.
	remote := trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{2}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled,
	}))
	if _, err := tiered.Load(remote, c, "user:12", tiered.ShortTerm, loadUser(&calls, 12)); err != nil {
		t.Fatal(err)
	}
	if n := len(h.sr.Started()); n != 0 {
		t.Errorf("%d spans started outside a sampled trace", n)
	}
	// Metrics are recorded all the same.
	m := h.collect(t)
	if _, ok := m["strata.cache.operation.duration"]; !ok {
		t.Errorf("no operation duration recorded: %v", keys(m))
	}
}

func TestRootSpans(t *testing.T) {
	h := newHarness(t, WithRootSpans())
	c := h.newCache(t, cacheConfig{})
	if _, err := tiered.Load(context.Background(), c, "user:13", tiered.ShortTerm, loadUser(new(int), 13)); err != nil {
		t.Fatal(err)
	}
	var root sdktrace.ReadOnlySpan
	for _, s := range h.sr.Ended() {
		if s.Name() == "strata.load" {
			root = s
		}
	}
	if root == nil || root.Parent().IsValid() {
		t.Fatalf("want a root strata.load span, got %v", root)
	}
	wantTree(t, h.tree(root.SpanContext(), AttrTierHit), `
strata.tier.get strata.tier.hit=false
strata.loader
strata.tier.set
`)
}

func TestKeyHash(t *testing.T) {
	secret := []byte("s3cret")
	h := newHarness(t, WithKeyHash(secret))
	c := h.newCache(t, cacheConfig{})
	const key = "user:14:alice@example.com"
	sc := h.request(context.Background(), func(ctx context.Context) {
		if _, err := tiered.Load(ctx, c, key, tiered.ShortTerm, loadUser(new(int), 14)); err != nil {
			t.Fatal(err)
		}
		if _, err := tiered.Load(ctx, c, key, tiered.ShortTerm, loadUser(new(int), 14)); err != nil {
			t.Fatal(err)
		}
	})
	want := keyHasher{secret: secret}.hash(key)
	if len(want) != 32 {
		t.Fatalf("hash %q is not 16 bytes in hex", want)
	}
	n := 0
	for _, s := range h.sr.Ended() {
		if s.SpanContext().TraceID() != sc.TraceID() {
			continue
		}
		if strings.Contains(s.Name(), key) {
			t.Errorf("span name %q holds the key", s.Name())
		}
		for _, kv := range s.Attributes() {
			if strings.Contains(kv.Value.String(), "alice") {
				t.Errorf("%s: attribute %s holds the raw key", s.Name(), kv.Key)
			}
		}
		if s.Name() == "strata.load" {
			n++
			wantAttrs(t, s, AttrKeyHash.String(want))
		}
	}
	if n != 2 {
		t.Errorf("%d strata.load spans, want 2", n)
	}

	// Without the option, no key at all.
	h2 := newHarness(t)
	c2 := h2.newCache(t, cacheConfig{})
	sc = h2.request(context.Background(), func(ctx context.Context) {
		_, _ = tiered.Load(ctx, c2, key, tiered.ShortTerm, loadUser(new(int), 14))
	})
	wantNoAttr(t, h2.span(t, sc, "strata.load"), AttrKeyHash)
}

func TestNewValidates(t *testing.T) {
	if _, err := New(WithKeyHash(nil)); err == nil {
		t.Error("WithKeyHash(nil) accepted")
	}
	if _, err := New(nil); err == nil {
		t.Error("nil Option accepted")
	}
	if o, err := New(); err != nil || o == nil {
		t.Errorf("New() = %v, %v", o, err)
	}
	if _, err := (&Observer{m: newHarness(t).obs.m}).ObserveCache(nil); err == nil {
		t.Error("ObserveCache(nil) accepted")
	}
}

func TestErrorType(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{context.DeadlineExceeded, "timeout"},
		{&tiered.PanicError{Value: "x"}, "panic"},
		{tiered.ErrTierUnavailable, "tier_unavailable"},
		{errors.Join(errors.New("a"), tiered.ErrTypeMismatch), "type_mismatch"},
		{fmt.Errorf("%w: keys: %w", tiered.ErrBroadcast, context.DeadlineExceeded), "broadcast"},
		{errors.New("plain"), "*errors.errorString"},
		{myErr{}, "github.com/stratacache/strata/otel.myErr"},
		{&myErr{}, "*github.com/stratacache/strata/otel.myErr"},
	} {
		if got := errorType(tc.err); got != tc.want {
			t.Errorf("errorType(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

type myErr struct{}

func (myErr) Error() string { return "mine" }

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A load goes on after the caller that started it gave up; its spans still land in that caller's
// trace, under the operation's (ended) span.
func TestSpansLoadOutlivesCanceledLeader(t *testing.T) {
	h := newHarness(t)
	c := h.newCache(t, cacheConfig{})
	entered, release := make(chan struct{}), make(chan struct{})
	sc := h.request(context.Background(), func(ctx context.Context) {
		ctx, cancel := context.WithCancel(ctx)
		go func() {
			<-entered
			cancel()
		}()
		_, err := tiered.Load(ctx, c, "user:15", tiered.ShortTerm, func(context.Context) (User, error) {
			close(entered)
			<-release
			return newUser(15), nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Load error %v, want context.Canceled", err)
		}
	})
	close(release)
	waitFor(t, func() bool { return strings.Contains(h.tree(sc), "strata.tier.set") })
	wantTree(t, h.tree(sc, AttrTierHit, AttrErrorType), `
strata.load error.type=canceled
  strata.tier.get strata.tier.hit=false
  strata.loader
  strata.tier.set
`)
}
