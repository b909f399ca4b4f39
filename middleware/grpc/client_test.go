package grpccache_test

import (
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	grpccache "github.com/stratacache/strata/middleware/grpc"
	"github.com/stratacache/strata/middleware/grpc/internal/testpb"
)

// startClient serves srv with a server Policy for every test method and dials it through a
// client interceptor whose cache lives under clientNS.
func startClient(t *testing.T, srv *itemServer, p grpccache.Policy, clientNS string, co grpccache.ClientOptions) (*env, *grpccache.Client) {
	t.Helper()
	if co.Cache == nil {
		co.Cache = newCache(t, clientNS)
	}
	c, err := grpccache.NewClient(co)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	e := start(t, srv, grpccache.ServerOptions{Methods: map[string]grpccache.Policy{mGet: p, mGetMeta: p}}, namespace(t),
		grpc.WithChainUnaryInterceptor(c.UnaryClientInterceptor()))
	return e, c
}

func TestClientCaching(t *testing.T) {
	clientNS := namespace(t)
	e, _ := startClient(t, &itemServer{}, grpccache.Policy{ClientMaxAge: time.Minute}, clientNS, grpccache.ClientOptions{})
	req := &testpb.GetItemRequest{Id: "c"}

	r := e.get(t, req)
	expect(t, r, "miss", 1)
	if cc := r.header.Get("cache-control"); len(cc) != 1 || (cc[0] != "max-age=60" && cc[0] != "max-age=59") {
		t.Fatalf("cache-control = %q", cc)
	}
	// Kept by the client: the server sees nothing, the reply is a copy the caller may change.
	r = e.get(t, req)
	expect(t, r, "hit", 1)
	if e.entered.Load() != 1 {
		t.Fatalf("server saw %d calls, want 1", e.entered.Load())
	}
	r.item.Name = "changed by the caller"
	r = e.get(t, req)
	expect(t, r, "hit", 1)
	if r.item.GetName() != "item c" {
		t.Fatalf("cached reply was changed through a caller's copy: %q", r.item.GetName())
	}

	// Bypass reaches the server (whose own cache answers).
	var h metadata.MD
	it, err := e.client.GetItem(t.Context(), req, grpc.Header(&h), grpccache.Bypass())
	if err != nil || it.GetVersion() != 1 || h.Get("cache-status")[0] != "hit" || e.entered.Load() != 2 {
		t.Fatalf("bypass: %v %v %v, server calls %d", it, err, h, e.entered.Load())
	}
	// Refresh reaches the server, whose cache refreshes too, and keeps its answer.
	h = nil
	it, err = e.client.GetItem(t.Context(), req, grpc.Header(&h), grpccache.Refresh())
	if err != nil || it.GetVersion() != 2 || h.Get("cache-status")[0] != "miss" || e.entered.Load() != 3 {
		t.Fatalf("refresh: %v %v %v, server calls %d", it, err, h, e.entered.Load())
	}
	expect(t, e.get(t, req), "hit", 2)
	if e.entered.Load() != 3 {
		t.Fatalf("server saw %d calls, want 3", e.entered.Load())
	}

	// Another request is another entry.
	expect(t, e.get(t, &testpb.GetItemRequest{Id: "d"}), "miss", 3)

	// Header and trailer metadata come back on client hits too.
	mr := e.call(t.Context(), e.client.GetItemWithMetadata, req)
	expect(t, mr, "miss", 1)
	mr = e.call(t.Context(), e.client.GetItemWithMetadata, req)
	expect(t, mr, "hit", 1)
	if mr.header.Get("x-sent-header")[0] != "b" || len(mr.trailer.Get("x-trailer")) != 2 {
		t.Fatalf("metadata on a client hit: %v %v", mr.header, mr.trailer)
	}

	// A second client with an empty L1 finds the response in Redis.
	c2, err := grpccache.NewClient(grpccache.ClientOptions{Cache: newCache(t, clientNS)})
	if err != nil {
		t.Fatal(err)
	}
	e2 := &env{srv: e.srv, addr: e.addr}
	e2.dial(t, grpc.WithChainUnaryInterceptor(c2.UnaryClientInterceptor()))
	before := e.entered.Load()
	expect(t, e2.get(t, req), "hit", 2)
	if e.entered.Load() != before {
		t.Fatal("second client called the server")
	}
}

func TestClientHonoursServerCacheControl(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy grpccache.Policy
		header metadata.MD
	}{
		{"no max-age", grpccache.Policy{}, nil},
		{"no-store", grpccache.Policy{ClientMaxAge: time.Minute}, metadata.Pairs("cache-control", "no-store")},
		{"no-cache", grpccache.Policy{ClientMaxAge: time.Minute}, metadata.Pairs("cache-control", "no-cache, max-age=60")},
		{"max-age=0", grpccache.Policy{ClientMaxAge: time.Minute}, metadata.Pairs("cache-control", "max-age=0")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := startClient(t, &itemServer{header: tc.header}, tc.policy, namespace(t), grpccache.ClientOptions{})
			for i := range 3 {
				if r := e.get(t, &testpb.GetItemRequest{Id: "n"}); r.err != nil {
					t.Fatalf("call %d: %v", i, r.err)
				}
			}
			if e.entered.Load() != 3 {
				t.Fatalf("server saw %d of 3 calls: the client kept a response it must not keep", e.entered.Load())
			}
		})
	}
}

func TestClientPerCredential(t *testing.T) {
	e, _ := startClient(t, &itemServer{}, grpccache.Policy{ClientMaxAge: time.Minute, Authorization: grpccache.AuthPerCaller}, namespace(t), grpccache.ClientOptions{
		Methods: func(m string) bool { return m == mGet },
	})
	req := &testpb.GetItemRequest{Id: "p"}
	r := e.get(t, req, "authorization", "Bearer a")
	expect(t, r, "miss", 1)
	if cc := r.header.Get("cache-control"); len(cc) != 1 || cc[0][:8] != "private," {
		t.Fatalf("cache-control = %q, want private", cc)
	}
	expect(t, e.get(t, req, "authorization", "Bearer a"), "hit", 1)
	if e.entered.Load() != 1 {
		t.Fatalf("server calls %d", e.entered.Load())
	}
	expect(t, e.get(t, req, "authorization", "Bearer b"), "miss", 2)
	expect(t, e.get(t, req, "authorization", "Bearer b"), "hit", 2)
	expect(t, e.get(t, req), "miss", 3)
	if e.entered.Load() != 3 {
		t.Fatalf("server calls %d, want 3", e.entered.Load())
	}
	// Methods filters: GetItemWithMetadata is never kept.
	for range 2 {
		e.call(t.Context(), e.client.GetItemWithMetadata, req)
	}
	if e.entered.Load() != 5 {
		t.Fatalf("server calls %d, want 5", e.entered.Load())
	}
}

// A Refresh whose response may no longer be kept drops the old one.
func TestClientRefreshDropsUnstorable(t *testing.T) {
	srv := &itemServer{}
	e, _ := startClient(t, srv, grpccache.Policy{ClientMaxAge: time.Minute}, namespace(t), grpccache.ClientOptions{})
	req := &testpb.GetItemRequest{Id: "r"}
	expect(t, e.get(t, req), "miss", 1)
	expect(t, e.get(t, req), "hit", 1)
	srv.header = metadata.Pairs("cache-control", "no-store")
	if _, err := e.client.GetItem(t.Context(), req, grpccache.Refresh(), grpc.Header(new(metadata.MD))); err != nil {
		t.Fatal(err)
	}
	srv.header = nil
	before := e.entered.Load()
	e.get(t, req)
	if e.entered.Load() != before+1 {
		t.Fatal("the client served the response it was told not to keep")
	}
}
