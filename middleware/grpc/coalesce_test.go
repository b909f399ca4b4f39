package grpccache_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/stratacache/strata/internal/loadwait"
	grpccache "github.com/stratacache/strata/middleware/grpc"
	"github.com/stratacache/strata/middleware/grpc/internal/testpb"
)

// callerServer answers GetItem for the caller named by "authorization" or, without it, by
// "x-caller": the request's Id chooses a per-caller error or a per-caller private or no-store
// response. The first call blocks until gate is closed.
type callerServer struct {
	testpb.UnimplementedItemServiceServer
	calls   atomic.Int64
	entered chan struct{}
	gate    chan struct{}
}

func (s *callerServer) GetItem(ctx context.Context, req *testpb.GetItemRequest) (*testpb.Item, error) {
	if s.calls.Add(1) == 1 {
		close(s.entered)
		select {
		case <-s.gate:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	who := strings.Join(metadata.ValueFromIncomingContext(ctx, "authorization"), ",")
	if who == "" {
		who = strings.Join(metadata.ValueFromIncomingContext(ctx, "x-caller"), ",")
	}
	switch req.GetId() {
	case "denied":
		return nil, status.Errorf(codes.PermissionDenied, "%s may not read it", who)
	case "unauthenticated":
		return nil, status.Errorf(codes.Unauthenticated, "%s is not signed in", who)
	case "private", "no-store":
		if err := grpc.SetHeader(ctx, metadata.Pairs("cache-control", req.GetId(), "x-for", who)); err != nil {
			return nil, err
		}
	}
	return &testpb.Item{Id: req.GetId(), Name: "for " + who}, nil
}

// TestCoalescedUnshareableResult checks that a handler result that may not be stored, and so may
// belong to the caller whose call produced it, never reaches the calls coalesced with it: each
// runs the handler with its own metadata.
func TestCoalescedUnshareableResult(t *testing.T) {
	for _, id := range []string{"denied", "unauthenticated", "private", "no-store"} {
		for _, identity := range []struct {
			name   string
			policy grpccache.Policy
			md     string
		}{
			{"shared authorization", grpccache.Policy{Authorization: grpccache.AuthShared}, "authorization"},
			{"identity outside the key", grpccache.Policy{}, "x-caller"},
		} {
			t.Run(id+"/"+identity.name, func(t *testing.T) {
				srv := &callerServer{entered: make(chan struct{}), gate: make(chan struct{})}
				cache := newCache(t, namespace(t))
				cs, err := grpccache.NewServer(grpccache.ServerOptions{Cache: cache, Methods: map[string]grpccache.Policy{mGet: identity.policy}})
				if err != nil {
					t.Fatal(err)
				}
				e := &env{cs: cs, cache: cache}
				e.serveService(t, func(s *grpc.Server) { testpb.RegisterItemServiceServer(s, srv) }, grpc.UnaryInterceptor(cs.UnaryServerInterceptor()))
				e.dial(t)

				base := loadwait.Blocked()
				req := &testpb.GetItemRequest{Id: id}
				results := make(map[string]result)
				var mu sync.Mutex
				var wg sync.WaitGroup
				call := func(who string) {
					r := e.get(t, req, identity.md, who)
					mu.Lock()
					results[who] = r
					mu.Unlock()
				}
				wg.Go(func() { call("alice") })
				<-srv.entered
				wg.Go(func() { call("mallory") })
				// Both calls wait on the load alice's call started: hers on its own goroutine, and
				// mallory's coalesced onto it.
				loadwait.Wait(t, base+2)
				close(srv.gate)
				wg.Wait()

				for _, who := range []string{"alice", "mallory"} {
					r := results[who]
					var got string
					switch id {
					case "denied", "unauthenticated":
						want := map[string]codes.Code{"denied": codes.PermissionDenied, "unauthenticated": codes.Unauthenticated}[id]
						if r.code() != want {
							t.Fatalf("%s: %v, want %v", who, r.err, want)
						}
						got = status.Convert(r.err).Message()
					default:
						if r.err != nil {
							t.Fatalf("%s: %v", who, r.err)
						}
						if v := r.header.Get("x-for"); len(v) != 1 || v[0] != who {
							t.Fatalf("%s received the header set for %q", who, v)
						}
						got = r.item.GetName()
					}
					if !strings.Contains(got, who) {
						t.Fatalf("%s received another caller's answer: %q", who, got)
					}
					if r.status() != "miss" {
						t.Fatalf("%s: cache-status %q, want miss", who, r.status())
					}
				}
				if n := srv.calls.Load(); n != 2 {
					t.Fatalf("handler ran %d times for 2 callers, want 2", n)
				}
				if s := cache.Stats(); s.Coalesced != 1 {
					t.Fatalf("%d calls coalesced, want 1: the second call did not join the first", s.Coalesced)
				}
				// Nothing was stored: a third caller runs the handler too.
				if r := e.get(t, req, identity.md, "carol"); !strings.Contains(fmt.Sprint(r.err, r.item.GetName()), "carol") {
					t.Fatalf("third caller: %v %v", r.item, r.err)
				}
				if n := srv.calls.Load(); n != 3 {
					t.Fatalf("handler ran %d times for 3 callers, want 3", n)
				}
			})
		}
	}
}
