package grpccache_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/stratacache/strata/internal/loadwait"
	grpccache "github.com/stratacache/strata/middleware/grpc"
	"github.com/stratacache/strata/middleware/grpc/internal/testpb"
	"github.com/stratacache/strata/tiered"
)

func TestPolicySelection(t *testing.T) {
	e := start(t, &itemServer{}, grpccache.ServerOptions{
		Methods: map[string]grpccache.Policy{mUpdate: {Strategy: tiered.Custom(time.Minute)}},
	}, namespace(t))
	ctx := t.Context()

	// A listed method is cached, declaration or not.
	var h1, h2 metadata.MD
	a, err := e.client.UpdateItem(ctx, &testpb.UpdateItemRequest{Id: "1", Name: "x"}, grpc.Header(&h1))
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.client.UpdateItem(ctx, &testpb.UpdateItemRequest{Id: "1", Name: "x"}, grpc.Header(&h2))
	if err != nil {
		t.Fatal(err)
	}
	if h1.Get("cache-status")[0] != "miss" || h2.Get("cache-status")[0] != "hit" || a.GetVersion() != 1 || b.GetVersion() != 1 {
		t.Fatalf("listed method: %v %v, versions %d %d", h1, h2, a.GetVersion(), b.GetVersion())
	}
	// A method without a policy passes straight through, with no cache-status.
	for i := int64(1); i <= 2; i++ {
		r := e.get(t, &testpb.GetItemRequest{Id: "1"})
		expect(t, r, "", i)
	}
	if n := e.srv.Calls(mUpdate); n != 1 {
		t.Fatalf("UpdateItem handler ran %d times, want 1", n)
	}
}

func TestIdempotencyGate(t *testing.T) {
	t.Run("NoSideEffects", func(t *testing.T) {
		e := start(t, &itemServer{}, grpccache.ServerOptions{NoSideEffects: &grpccache.Policy{}}, namespace(t))
		expect(t, e.get(t, &testpb.GetItemRequest{Id: "a"}), "miss", 1)
		expect(t, e.get(t, &testpb.GetItemRequest{Id: "a"}), "hit", 1)
		for _, m := range []struct {
			name string
			call func(context.Context, *testpb.UpdateItemRequest, ...grpc.CallOption) (*testpb.Item, error)
		}{{mUpdate, e.client.UpdateItem}, {mPut, e.client.PutItem}} {
			for i := int64(1); i <= 2; i++ {
				var h metadata.MD
				it, err := m.call(t.Context(), &testpb.UpdateItemRequest{Id: "a"}, grpc.Header(&h))
				if err != nil {
					t.Fatal(err)
				}
				if it.GetVersion() != i || len(h.Get("cache-status")) != 0 {
					t.Fatalf("%s call %d: version %d, header %v: want uncached", m.name, i, it.GetVersion(), h)
				}
			}
		}
	})
	t.Run("RequireNoSideEffects", func(t *testing.T) {
		e := start(t, &itemServer{}, grpccache.ServerOptions{
			Methods:              map[string]grpccache.Policy{mUpdate: {}, mGet: {}},
			RequireNoSideEffects: true,
		}, namespace(t))
		expect(t, e.get(t, &testpb.GetItemRequest{Id: "a"}), "miss", 1)
		expect(t, e.get(t, &testpb.GetItemRequest{Id: "a"}), "hit", 1)
		for i := int64(1); i <= 2; i++ {
			it, err := e.client.UpdateItem(t.Context(), &testpb.UpdateItemRequest{Id: "a"})
			if err != nil || it.GetVersion() != i {
				t.Fatalf("UpdateItem call %d: %v, %v: want uncached", i, it, err)
			}
		}
	})
}

func TestKeyIsolation(t *testing.T) {
	e := start(t, &itemServer{}, grpccache.ServerOptions{
		Methods: map[string]grpccache.Policy{mGet: {VaryMetadata: []string{"X-Tenant"}}},
	}, namespace(t))

	t.Run("request", func(t *testing.T) {
		expect(t, e.get(t, &testpb.GetItemRequest{Id: "r1"}), "miss", 1)
		expect(t, e.get(t, &testpb.GetItemRequest{Id: "r2"}), "miss", 2)
		expect(t, e.get(t, &testpb.GetItemRequest{Id: "r1"}), "hit", 1)
		// Equal maps give equal keys whatever their insertion order; different maps do not.
		l1 := map[string]string{}
		l2 := map[string]string{}
		for i := range 20 {
			k := string(rune('a' + i))
			l1[k] = k
			l2[string(rune('a'+19-i))] = string(rune('a' + 19 - i))
		}
		expect(t, e.get(t, &testpb.GetItemRequest{Id: "r1", Labels: l1}), "miss", 3)
		expect(t, e.get(t, &testpb.GetItemRequest{Id: "r1", Labels: l2}), "hit", 3)
		expect(t, e.get(t, &testpb.GetItemRequest{Id: "r1", Labels: map[string]string{"a": "b"}}), "miss", 4)
	})
	t.Run("metadata", func(t *testing.T) {
		expect(t, e.get(t, &testpb.GetItemRequest{Id: "m"}, "x-tenant", "t1"), "miss", 5)
		expect(t, e.get(t, &testpb.GetItemRequest{Id: "m"}, "x-tenant", "t2"), "miss", 6)
		r := e.get(t, &testpb.GetItemRequest{Id: "m"}, "x-tenant", "t1", "x-other", "ignored")
		expect(t, r, "hit", 5)
		if r.item.GetAttrs()["tenant"] != "t1" {
			t.Fatalf("tenant t1 got %v", r.item.GetAttrs())
		}
		expect(t, e.get(t, &testpb.GetItemRequest{Id: "m"}), "miss", 7)
		// Two values differ from one.
		expect(t, e.get(t, &testpb.GetItemRequest{Id: "m"}, "x-tenant", "t1", "x-tenant", "t2"), "miss", 8)
	})
	t.Run("schema", func(t *testing.T) {
		// Another deployment with another schema salt shares the Redis namespace but not entries.
		ns := namespace(t)
		a := start(t, &itemServer{}, grpccache.ServerOptions{Methods: map[string]grpccache.Policy{mGet: {}}, Schema: "v1"}, ns)
		b := start(t, &itemServer{}, grpccache.ServerOptions{Methods: map[string]grpccache.Policy{mGet: {}}, Schema: "v2"}, ns)
		c := start(t, &itemServer{}, grpccache.ServerOptions{Methods: map[string]grpccache.Policy{mGet: {}}, Schema: "v1"}, ns)
		expect(t, a.get(t, &testpb.GetItemRequest{Id: "s"}), "miss", 1)
		expect(t, b.get(t, &testpb.GetItemRequest{Id: "s"}), "miss", 1)
		expect(t, c.get(t, &testpb.GetItemRequest{Id: "s"}), "hit", 1) // from Redis
	})
}

func TestAuthorization(t *testing.T) {
	const secret = "Bearer s3cr3t-token-value"
	t.Run("bypass by default", func(t *testing.T) {
		e := start(t, &itemServer{}, grpccache.ServerOptions{Methods: map[string]grpccache.Policy{mGet: {}}}, namespace(t))
		expect(t, e.get(t, &testpb.GetItemRequest{Id: "a"}, "authorization", secret), "bypass", 1)
		expect(t, e.get(t, &testpb.GetItemRequest{Id: "a"}, "authorization", secret), "bypass", 2)
		// The bypassed calls stored nothing an anonymous call could hit.
		expect(t, e.get(t, &testpb.GetItemRequest{Id: "a"}), "miss", 3)
		expect(t, e.get(t, &testpb.GetItemRequest{Id: "a"}, "authorization", secret), "bypass", 4)
	})
	t.Run("per caller", func(t *testing.T) {
		ns := namespace(t)
		e := start(t, &itemServer{}, grpccache.ServerOptions{
			Methods: map[string]grpccache.Policy{mGet: {Authorization: grpccache.AuthPerCaller}},
		}, ns)
		expect(t, e.get(t, &testpb.GetItemRequest{Id: "a"}, "authorization", secret), "miss", 1)
		expect(t, e.get(t, &testpb.GetItemRequest{Id: "a"}, "authorization", secret), "hit", 1)
		expect(t, e.get(t, &testpb.GetItemRequest{Id: "a"}, "authorization", "Bearer other"), "miss", 2)
		expect(t, e.get(t, &testpb.GetItemRequest{Id: "a"}), "miss", 3)
		expect(t, e.get(t, &testpb.GetItemRequest{Id: "a"}, "authorization", "Bearer other"), "hit", 2)
		// Neither keys nor values in Redis hold the credential.
		rc := redisClient(t)
		keys, err := rc.Keys(t.Context(), ns+"*").Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 3 {
			t.Fatalf("%d keys stored, want 3: %q", len(keys), keys)
		}
		for _, k := range keys {
			v, err := rc.Get(t.Context(), k).Result()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(k, "s3cr3t") || strings.Contains(v, "s3cr3t") || strings.Contains(k, "other") {
				t.Fatalf("credential stored in Redis: key %q", k)
			}
		}
	})
	t.Run("HMAC key separates deployments", func(t *testing.T) {
		ns := namespace(t)
		p := map[string]grpccache.Policy{mGet: {Authorization: grpccache.AuthPerCaller}}
		a := start(t, &itemServer{}, grpccache.ServerOptions{Methods: p, AuthKey: []byte("k1")}, ns)
		b := start(t, &itemServer{}, grpccache.ServerOptions{Methods: p, AuthKey: []byte("k2")}, ns)
		c := start(t, &itemServer{}, grpccache.ServerOptions{Methods: p, AuthKey: []byte("k1")}, ns)
		expect(t, a.get(t, &testpb.GetItemRequest{Id: "a"}, "authorization", secret), "miss", 1)
		expect(t, b.get(t, &testpb.GetItemRequest{Id: "a"}, "authorization", secret), "miss", 1)
		expect(t, c.get(t, &testpb.GetItemRequest{Id: "a"}, "authorization", secret), "hit", 1)
	})
	t.Run("shared", func(t *testing.T) {
		e := start(t, &itemServer{}, grpccache.ServerOptions{
			Methods: map[string]grpccache.Policy{mGet: {Authorization: grpccache.AuthShared}},
		}, namespace(t))
		expect(t, e.get(t, &testpb.GetItemRequest{Id: "a"}, "authorization", secret), "miss", 1)
		expect(t, e.get(t, &testpb.GetItemRequest{Id: "a"}, "authorization", "Bearer other"), "hit", 1)
		expect(t, e.get(t, &testpb.GetItemRequest{Id: "a"}), "hit", 1)
	})
}

func TestErrorsNotStored(t *testing.T) {
	ns := namespace(t)
	e := start(t, &itemServer{}, grpccache.ServerOptions{Methods: map[string]grpccache.Policy{mGet: {}}}, ns)
	codesNeverStored := []codes.Code{
		codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.ResourceExhausted,
		codes.Internal, codes.Unauthenticated, codes.PermissionDenied, codes.NotFound,
		codes.InvalidArgument, codes.Aborted, codes.Unknown,
	}
	for _, c := range codesNeverStored {
		req := &testpb.GetItemRequest{Id: "e-" + c.String(), Fail: int32(c)}
		before := e.srv.Calls(mGet)
		for range 2 {
			r := e.get(t, req)
			if r.code() != c {
				t.Fatalf("%v: got %v", c, r.err)
			}
			if r.status() != "miss" {
				t.Fatalf("%v: cache-status %q, want miss", c, r.status())
			}
		}
		if n := e.srv.Calls(mGet) - before; n != 2 {
			t.Fatalf("%v: handler ran %d times for 2 calls, want 2", c, n)
		}
	}
	keys, err := redisClient(t).Keys(t.Context(), ns+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Fatalf("errors were stored: %q", keys)
	}
}

func TestHeaderTrailerReplay(t *testing.T) {
	ns := namespace(t)
	e := start(t, &itemServer{}, grpccache.ServerOptions{Methods: map[string]grpccache.Policy{mGetMeta: {}}}, ns)
	check := func(r result, cacheStatus string) {
		t.Helper()
		expect(t, r, cacheStatus, 1)
		want := map[string][]string{
			"x-set-header":  {"a"},
			"x-sent-header": {"b"},
			"x-bin-bin":     {"\x00\x01\xff"},
		}
		for k, v := range want {
			if got := r.header.Get(k); strings.Join(got, "|") != strings.Join(v, "|") {
				t.Fatalf("%s: header %s = %q, want %q", cacheStatus, k, got, v)
			}
		}
		if got := r.trailer.Get("x-trailer"); strings.Join(got, "|") != "t1|t2" {
			t.Fatalf("%s: trailer = %v", cacheStatus, r.trailer)
		}
		if len(r.header.Get("x-late")) != 0 {
			t.Fatalf("header set after SendHeader was sent: %v", r.header)
		}
	}
	req := &testpb.GetItemRequest{Id: "m"}
	check(e.call(t.Context(), e.client.GetItemWithMetadata, req), "miss")
	check(e.call(t.Context(), e.client.GetItemWithMetadata, req), "hit")
	// A second instance with an empty L1 reads the entry from Redis, metadata included.
	f := start(t, &itemServer{}, grpccache.ServerOptions{Methods: map[string]grpccache.Policy{mGetMeta: {}}}, ns)
	check(f.call(t.Context(), f.client.GetItemWithMetadata, req), "hit")
	if n := f.srv.Calls(mGetMeta); n != 0 {
		t.Fatalf("second instance ran its handler %d times", n)
	}
}

func TestCoalescing(t *testing.T) {
	srv := &itemServer{gate: make(chan struct{}), entered: make(chan struct{}, 16)}
	e := start(t, srv, grpccache.ServerOptions{Methods: map[string]grpccache.Policy{mGet: {}}}, namespace(t))
	const n = 8
	results := make([]result, n)
	base := loadwait.Blocked()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i] = e.get(t, &testpb.GetItemRequest{Id: "c"}) })
	}
	<-srv.entered
	// Every call waits on the one handler call: the first on its own detached load, the others
	// coalesced onto it.
	loadwait.Wait(t, base+n)
	close(srv.gate)
	wg.Wait()
	misses := 0
	for _, r := range results {
		if r.err != nil || r.item.GetVersion() != 1 {
			t.Fatalf("call: %v %v", r.item, r.err)
		}
		if r.status() == "miss" {
			misses++
		}
	}
	if misses != n {
		t.Fatalf("%d of %d coalesced calls said miss", misses, n)
	}
	if c := srv.Calls(mGet); c != 1 {
		t.Fatalf("handler ran %d times for %d concurrent calls", c, n)
	}
	expect(t, e.get(t, &testpb.GetItemRequest{Id: "c"}), "hit", 1)
}

func TestWaiterDeadline(t *testing.T) {
	srv := &itemServer{gate: make(chan struct{}), entered: make(chan struct{}, 4)}
	e := start(t, srv, grpccache.ServerOptions{Methods: map[string]grpccache.Policy{mGet: {}}}, namespace(t))
	req := &testpb.GetItemRequest{Id: "d"}
	base := loadwait.Blocked()
	first := make(chan result, 1)
	go func() { first <- e.get(t, req) }()
	<-srv.entered

	// A waiter with a short deadline gives up on time; the shared handler call goes on.
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	began := time.Now()
	r := e.call(ctx, e.client.GetItem, req)
	if r.code() != codes.DeadlineExceeded {
		t.Fatalf("short waiter: %v, want DeadlineExceeded", r.err)
	}
	if d := time.Since(began); d > time.Second {
		t.Fatalf("short waiter returned after %v", d)
	}

	// The first caller cancels too: the handler keeps running for the cache.
	ctx2, cancel2 := context.WithCancel(t.Context())
	second := make(chan result, 1)
	go func() { second <- e.call(ctx2, e.client.GetItem, req) }()
	loadwait.Wait(t, base+2) // the first call and this one wait on the handler call
	cancel2()
	if r := <-second; r.code() != codes.Canceled {
		t.Fatalf("cancelled waiter: %v", r.err)
	}
	close(srv.gate)
	expect(t, <-first, "miss", 1)
	expect(t, e.get(t, req), "hit", 1)
	if c := srv.Calls(mGet); c != 1 {
		t.Fatalf("handler ran %d times", c)
	}
}

func TestLeaderCancelledStillStores(t *testing.T) {
	srv := &itemServer{gate: make(chan struct{}), entered: make(chan struct{}, 4)}
	e := start(t, srv, grpccache.ServerOptions{Methods: map[string]grpccache.Policy{mGet: {}}}, namespace(t))
	req := &testpb.GetItemRequest{Id: "l"}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan result, 1)
	go func() { done <- e.call(ctx, e.client.GetItem, req) }()
	<-srv.entered
	cancel()
	if r := <-done; r.code() != codes.Canceled {
		t.Fatalf("cancelled caller: %v", r.err)
	}
	close(srv.gate)
	waitFor(t, func() bool { return e.get(t, req).status() == "hit" })
	if c := srv.Calls(mGet); c != 1 {
		t.Fatalf("handler ran %d times", c)
	}
}

func TestHandlerContextDoneStoresNothing(t *testing.T) {
	srv := &itemServer{gate: make(chan struct{}), afterDone: true}
	defer close(srv.gate)
	e := start(t, srv, grpccache.ServerOptions{
		Methods:        map[string]grpccache.Policy{mGet: {}},
		HandlerTimeout: 50 * time.Millisecond,
	}, namespace(t))
	req := &testpb.GetItemRequest{Id: "h"}
	// The handler answers OK, but only after its context ended: the answer reaches the caller
	// and is not stored.
	expect(t, e.get(t, req), "miss", 1)
	expect(t, e.get(t, req), "miss", 2)
}

func TestCacheControlRequest(t *testing.T) {
	e := start(t, &itemServer{}, grpccache.ServerOptions{Methods: map[string]grpccache.Policy{mGet: {}}}, namespace(t))
	req := &testpb.GetItemRequest{Id: "cc"}
	expect(t, e.get(t, req), "miss", 1)
	expect(t, e.get(t, req), "hit", 1)
	// no-store: the handler answers and the entry stays as it was.
	expect(t, e.get(t, req, "cache-control", "no-store"), "bypass", 2)
	expect(t, e.get(t, req), "hit", 1)
	// no-cache: the handler answers and its answer replaces the entry.
	expect(t, e.get(t, req, "cache-control", "max-age=0, No-Cache"), "miss", 3)
	expect(t, e.get(t, req), "hit", 3)
	// no-store in the handler's own header: nothing stored.
	e2 := start(t, &itemServer{header: metadata.Pairs("cache-control", "no-store")}, grpccache.ServerOptions{Methods: map[string]grpccache.Policy{mGet: {}}}, namespace(t))
	expect(t, e2.get(t, req), "miss", 1)
	expect(t, e2.get(t, req), "miss", 2)
}

func TestCorruptEntry(t *testing.T) {
	ns := namespace(t)
	opts := grpccache.ServerOptions{Methods: map[string]grpccache.Policy{mGet: {}}}
	e := start(t, &itemServer{}, opts, ns)
	req := &testpb.GetItemRequest{Id: "x"}
	expect(t, e.get(t, req), "miss", 1)
	rc := redisClient(t)
	keys, err := rc.Keys(t.Context(), ns+"*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %q, %v", keys, err)
	}
	good, err := rc.Get(t.Context(), keys[0]).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	// A valid strata envelope (32-byte header) around a payload that is not a response, and
	// plain garbage.
	badPayload := append([]byte(nil), good[:32]...)
	payload := []byte("G\x01not a response at all")
	binary.BigEndian.PutUint32(badPayload[28:], uint32(len(payload)))
	badPayload = append(badPayload, payload...)
	truncated := append([]byte(nil), good[:len(good)-3]...)
	binary.BigEndian.PutUint32(truncated[28:], uint32(len(truncated)-32))
	for i, bad := range [][]byte{badPayload, truncated, []byte("garbage")} {
		if err := rc.Set(t.Context(), keys[0], bad, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		// A fresh instance (empty L1) finds the corrupt entry: a miss, and the handler's answer
		// replaces it.
		f := start(t, &itemServer{}, opts, ns)
		expect(t, f.get(t, req), "miss", 1)
		expect(t, f.get(t, req), "hit", 1)
		if got, _ := rc.Get(t.Context(), keys[0]).Bytes(); len(got) < 40 {
			t.Fatalf("case %d: entry not replaced: %q", i, got)
		}
		if f.cache.Stats().Corrupt != 1 {
			t.Fatalf("case %d: corrupt count %d", i, f.cache.Stats().Corrupt)
		}
	}
}

func TestCloneResponses(t *testing.T) {
	var mutate grpc.UnaryServerInterceptor = func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if it, ok := resp.(*testpb.Item); ok {
			it.Name += "!"
		}
		return resp, err
	}
	cs, err := grpccache.NewServer(grpccache.ServerOptions{Methods: map[string]grpccache.Policy{mGet: {}}, CloneResponses: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	e := &env{srv: &itemServer{}, cs: cs, cache: cs.Cache()}
	e.serve(t, grpc.ChainUnaryInterceptor(mutate, cs.UnaryServerInterceptor()))
	e.dial(t)
	for range 3 {
		r := e.get(t, &testpb.GetItemRequest{Id: "z"})
		if r.err != nil || r.item.GetName() != "item z!" {
			t.Fatalf("%v %v", r.item, r.err)
		}
	}
}

func TestNewServerValidation(t *testing.T) {
	for name, o := range map[string]grpccache.ServerOptions{
		"bad method name":  {Methods: map[string]grpccache.Policy{"GetItem": {}}},
		"negative TTL":     {Methods: map[string]grpccache.Policy{mGet: {Strategy: tiered.Custom(-time.Second)}}},
		"negative caching": {Methods: map[string]grpccache.Policy{mGet: {Strategy: tiered.ShortTerm.WithNegativeTTL(time.Second)}}},
		"vary auth":        {NoSideEffects: &grpccache.Policy{VaryMetadata: []string{"Authorization"}}},
		"auth mode":        {NoSideEffects: &grpccache.Policy{Authorization: 9}},
		"client max age":   {NoSideEffects: &grpccache.Policy{ClientMaxAge: -1}},
		"handler timeout":  {HandlerTimeout: -1},
	} {
		s, err := grpccache.NewServer(o)
		if !errors.Is(err, grpccache.ErrInvalidOptions) || s != nil {
			t.Errorf("%s: got %v, want ErrInvalidOptions", name, err)
		}
	}
	if _, err := grpccache.NewClient(grpccache.ClientOptions{MaxTTL: -1}); !errors.Is(err, grpccache.ErrInvalidOptions) {
		t.Errorf("client MaxTTL: %v", err)
	}
	s, err := grpccache.NewServer(grpccache.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
}

// waitFor polls cond for up to five seconds.
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

func TestInvalidate(t *testing.T) {
	ns := namespace(t)
	opts := grpccache.ServerOptions{Methods: map[string]grpccache.Policy{mGet: {VaryMetadata: []string{"x-tenant"}, Authorization: grpccache.AuthPerCaller}}}
	e := start(t, &itemServer{}, opts, ns)
	req := &testpb.GetItemRequest{Id: "inv", Labels: map[string]string{"a": "1", "b": "2"}}
	expect(t, e.get(t, req, "x-tenant", "t1"), "miss", 1)
	expect(t, e.get(t, req, "x-tenant", "t2"), "miss", 2)
	expect(t, e.get(t, req, "x-tenant", "t1", "authorization", "Bearer a"), "miss", 3)
	if err := e.cs.Invalidate(t.Context(), mGet, req, metadata.Pairs("X-Tenant", "t1")); err != nil {
		t.Fatal(err)
	}
	expect(t, e.get(t, req, "x-tenant", "t2"), "hit", 2)
	expect(t, e.get(t, req, "x-tenant", "t1", "authorization", "Bearer a"), "hit", 3)
	// Another instance sharing Redis no longer finds it either.
	f := start(t, &itemServer{}, opts, ns)
	expect(t, f.get(t, req, "x-tenant", "t1"), "miss", 1)
	if err := e.cs.Invalidate(t.Context(), mGet, req, metadata.Pairs("x-tenant", "t1", "authorization", "Bearer a")); err != nil {
		t.Fatal(err)
	}
	expect(t, f.get(t, req, "x-tenant", "t1", "authorization", "Bearer a"), "miss", 2)
	// Methods without a policy: nothing to do.
	if err := e.cs.Invalidate(t.Context(), mUpdate, req, nil); err != nil {
		t.Fatal(err)
	}
}

// Redis holds the response's proto bytes, whatever the cache's codec: cached responses encode
// themselves.
func TestStoredForm(t *testing.T) {
	for _, tc := range []struct {
		name  string
		codec tiered.Codec
	}{{"default codec", nil}, {"JSON codec", tiered.JSON}} {
		t.Run(tc.name, func(t *testing.T) {
			ns := namespace(t)
			withCodec := func(o *tiered.Options) { o.Codec = tc.codec }
			opts := func() grpccache.ServerOptions {
				return grpccache.ServerOptions{Cache: newCache(t, ns, withCodec), Methods: map[string]grpccache.Policy{mGetMeta: {}}}
			}
			e := start(t, &itemServer{}, opts(), ns)
			req := &testpb.GetItemRequest{Id: "stored"}
			r := e.call(t.Context(), e.client.GetItemWithMetadata, req)
			expect(t, r, "miss", 1)
			rc := redisClient(t)
			keys, err := rc.Keys(t.Context(), ns+"*").Result()
			if err != nil || len(keys) != 1 || !strings.HasPrefix(keys[0], ns+"grpc:"+mGetMeta+":") {
				t.Fatalf("keys %q, %v", keys, err)
			}
			raw, err := rc.Get(t.Context(), keys[0]).Bytes()
			if err != nil {
				t.Fatal(err)
			}
			want, err := proto.Marshal(r.item)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(raw, want) || !bytes.Contains(raw, []byte("x-trailer")) {
				t.Fatalf("stored entry lacks the proto bytes or the trailer: %q", raw)
			}
			f := start(t, &itemServer{}, opts(), ns)
			r = f.call(t.Context(), f.client.GetItemWithMetadata, req)
			expect(t, r, "hit", 1)
			if len(r.trailer.Get("x-trailer")) != 2 {
				t.Fatalf("trailer %v", r.trailer)
			}
		})
	}
}

// With a stale window, an expired entry is served while one background handler call refreshes it:
// that call outlives the RPC that triggered it, and its metadata still lands in the new entry.
func TestStaleWhileRefresh(t *testing.T) {
	e := start(t, &itemServer{}, grpccache.ServerOptions{
		Methods: map[string]grpccache.Policy{mGetMeta: {Strategy: tiered.Custom(200 * time.Millisecond).WithStale(time.Minute)}},
	}, namespace(t))
	req := &testpb.GetItemRequest{Id: "stale"}
	expect(t, e.call(t.Context(), e.client.GetItemWithMetadata, req), "miss", 1)
	time.Sleep(300 * time.Millisecond)
	expect(t, e.call(t.Context(), e.client.GetItemWithMetadata, req), "hit", 1) // stale, refresh started
	waitFor(t, func() bool {
		r := e.call(t.Context(), e.client.GetItemWithMetadata, req)
		return r.err == nil && r.item.GetVersion() == 2 && len(r.trailer.Get("x-trailer")) == 2 && r.status() == "hit"
	})
	if n := e.srv.Calls(mGetMeta); n < 2 {
		t.Fatalf("handler ran %d times, want a refresh", n)
	}
}

// A no-cache call whose OK answer may not be stored removes the old entry; one that fails keeps
// it.
func TestRefreshRemovesUnstorable(t *testing.T) {
	srv := &itemServer{}
	e := start(t, srv, grpccache.ServerOptions{Methods: map[string]grpccache.Policy{mGet: {}}}, namespace(t))
	req := &testpb.GetItemRequest{Id: "r"}
	expect(t, e.get(t, req), "miss", 1)
	srv.failCode.Store(int32(codes.Unavailable))
	if r := e.get(t, req, "cache-control", "no-cache"); r.code() != codes.Unavailable {
		t.Fatalf("failing refresh: %v", r.err)
	}
	srv.failCode.Store(0)
	expect(t, e.get(t, req), "hit", 1)
	srv.header = metadata.Pairs("cache-control", "no-store")
	expect(t, e.get(t, req, "cache-control", "no-cache"), "miss", 3)
	srv.header = nil
	expect(t, e.get(t, req), "miss", 4)
}
