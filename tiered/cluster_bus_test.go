package tiered_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
	redistier "github.com/stratacache/strata/tiered/redis"
)

// TestClusterCoherence runs the L2, the bus, pattern and tag invalidation and streams against a real
// three-master Redis Cluster.
func TestClusterCoherence(t *testing.T) {
	ctx := context.Background()
	cl := redistest.StartCluster(t)
	rdb := cl.Client(t)
	ns := busNamespace(t)
	a := newBusCache(t, cl.Client(t), ns)
	b := newBusCache(t, cl.Client(t), ns)

	// countKeys counts the keys of the namespace on every master.
	countKeys := func(t *testing.T, pattern string) int {
		var mu sync.Mutex
		n := 0
		err := rdb.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			iter := node.Scan(ctx, 0, pattern, 1000).Iterator()
			m := 0
			for iter.Next(ctx) {
				m++
			}
			mu.Lock()
			n += m
			mu.Unlock()
			return iter.Err()
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("L2", func(t *testing.T) {
		for i := range 100 {
			if err := a.Set(ctx, fmt.Sprint("l2:", i), i, tiered.Default); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 100 {
			v, ok, err := tiered.Get[int](ctx, b, fmt.Sprint("l2:", i))
			if err != nil || !ok || v != i {
				t.Fatalf("b reads l2:%d = %d %v %v", i, v, ok, err)
			}
		}
		if st := b.Stats(); st.Tiers[1].Hits != 100 {
			t.Fatalf("b's L2 hits = %d", st.Tiers[1].Hits)
		}
		// The keys really are spread over the masters.
		err := rdb.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			if n, err := node.DBSize(ctx).Result(); err != nil || n == 0 {
				return fmt.Errorf("master %s holds %d keys (%v)", node.Options().Addr, n, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("bus", func(t *testing.T) {
		busLoadInt(t, b, "k", 1)
		if err := a.Invalidate(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		busEventually(t, 2*time.Second, "k leaves b's L1", func() bool {
			_, ok := busL1Value(b, "k")
			return !ok
		})
		busLoadInt(t, b, "u", 1)
		if err := a.Update(ctx, "u", 2, tiered.Default); err != nil {
			t.Fatal(err)
		}
		busEventually(t, 2*time.Second, "u updated in b's L1", func() bool {
			v, ok := busL1Value(b, "u")
			return ok && v == 2
		})
	})

	t.Run("pattern", func(t *testing.T) {
		const n = 1200
		for i := range n {
			if err := a.Set(ctx, fmt.Sprint("p:", i), i, tiered.Default); err != nil {
				t.Fatal(err)
			}
			if i%100 == 0 {
				busLoadInt(t, b, fmt.Sprint("p:", i), -1)
			}
		}
		if got := countKeys(t, ns+"p:*"); got != n {
			t.Fatalf("%d p:* keys before, want %d", got, n)
		}
		l2, err := redistier.New(rdb, redistier.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if removed, err := l2.DeletePattern(ctx, ns+"p:1*"); err != nil || removed != 1+10+100+200 {
			t.Fatalf("DeletePattern p:1* removed %d (%v)", removed, err)
		}
		if err := a.InvalidatePattern(ctx, "p:*"); err != nil {
			t.Fatal(err)
		}
		if got := countKeys(t, ns+"p:*"); got != 0 {
			t.Fatalf("%d p:* keys left across the masters", got)
		}
		busEventually(t, 2*time.Second, "p:* leaves b's L1", func() bool {
			_, ok := busL1Value(b, "p:0")
			return !ok
		})
	})

	t.Run("tags", func(t *testing.T) {
		for i := range 50 {
			if err := a.Set(ctx, fmt.Sprint("t:", i), i, tiered.Default, tiered.Tags("g")); err != nil {
				t.Fatal(err)
			}
		}
		busLoadInt(t, b, "t:7", -1)
		if err := a.InvalidateTags(ctx, "g"); err != nil {
			t.Fatal(err)
		}
		if got := countKeys(t, ns+"t:*"); got != 0 {
			t.Fatalf("%d tagged keys left", got)
		}
		busEventually(t, 2*time.Second, "t:7 leaves b's L1", func() bool {
			_, ok := busL1Value(b, "t:7")
			return !ok
		})
	})

	t.Run("reconnect", func(t *testing.T) {
		busLoadInt(t, b, "r", 1)
		before := b.Stats().Invalidation.Resubscribes
		err := rdb.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			return node.ClientKillByFilter(ctx, "TYPE", "pubsub").Err()
		})
		if err != nil {
			t.Fatal(err)
		}
		busEventually(t, 5*time.Second, "b resubscribed to the cluster", func() bool {
			s := b.Stats().Invalidation
			return s.Resubscribes > before && s.Subscribed
		})
		if _, ok := busL1Value(b, "r"); ok {
			t.Fatal("L1 entry survived the resubscription")
		}
		busEventually(t, 5*time.Second, "a resubscribed too", func() bool {
			return a.Stats().Invalidation.Subscribed
		})
		busLoadInt(t, b, "r", 1)
		if err := a.Update(ctx, "r", 2, tiered.Default); err != nil {
			t.Fatal(err)
		}
		busEventually(t, 2*time.Second, "update after the reconnect", func() bool {
			v, ok := busL1Value(b, "r")
			return ok && v == 2
		})
	})

	t.Run("streams", func(t *testing.T) {
		l2, err := redistier.New(rdb, redistier.Options{})
		if err != nil {
			t.Fatal(err)
		}
		id, err := l2.Publish(ctx, ns+"s", map[string]any{"x": "1"}, 100)
		if err != nil {
			t.Fatal(err)
		}
		latest, err := l2.ReadLatest(ctx, ns+"s", 1)
		if err != nil || len(latest) != 1 || latest[0].ID != id {
			t.Fatalf("ReadLatest = %+v %v", latest, err)
		}
		got, err := l2.Read(ctx, ns+"s", "0", 10, 0)
		if err != nil || len(got) != 1 || got[0].Fields["x"] != "1" {
			t.Fatalf("Read = %+v %v", got, err)
		}
	})
}
