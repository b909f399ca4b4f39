package redistier

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stratacache/strata/internal/redistest"
)

// TestKeySlotMatchesRedis checks the slot computation against CLUSTER KEYSLOT of a real
// cluster-enabled server.
func TestKeySlotMatchesRedis(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{Args: []string{"--cluster-enabled", "yes"}})
	rdb := srv.Client(t)
	r := rand.New(rand.NewPCG(3, 4))
	keys := []string{"", "{", "}", "{}", "{}x", "a{}b", "{a}", "x{a}y", "x{a}{b}", "{{a}}", "a{b", "a}b{c}", "user:1000", "{user1000}.following"}
	parts := []string{"a", "b", "{", "}", "user", ":", "1", "\xff"}
	for range 2000 {
		k := ""
		for range r.IntN(8) {
			k += parts[r.IntN(len(parts))]
		}
		keys = append(keys, k)
	}
	cmds := make([]*redis.IntCmd, len(keys))
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.ClusterKeySlot(ctx, k)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		if got, want := int(Slot(k)), int(cmds[i].Val()); got != want {
			t.Fatalf("Slot(%q) = %d, redis says %d", k, got, want)
		}
	}
}

func TestCoherenceCapabilities(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	b, err := New(rdb, Options{})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("DeletePattern", func(t *testing.T) {
		for i := range 1300 {
			if err := rdb.Set(ctx, fmt.Sprint("dp:", i), "v", time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
		}
		rdb.Set(ctx, "other", "v", time.Minute)
		n, err := b.DeletePattern(ctx, "dp:*")
		if err != nil || n != 1300 {
			t.Fatalf("DeletePattern = %d, %v", n, err)
		}
		if left, _ := rdb.DBSize(ctx).Result(); left != 1 {
			t.Fatalf("%d keys left, want only \"other\"", left)
		}
	})

	t.Run("tags", func(t *testing.T) {
		if err := b.IndexTags(ctx, "k1", []string{"tag:a", "tag:b"}, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := b.IndexTags(ctx, "k2", []string{"tag:a"}, time.Minute); err != nil {
			t.Fatal(err)
		}
		// After SCRIPT FLUSH the scripts are sent again by source.
		if err := rdb.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if err := b.IndexTags(ctx, "k3", []string{"tag:b"}, time.Millisecond); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
		got, err := b.TakeTagged(ctx, []string{"tag:a", "tag:b"})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if !slices.Equal(got, []string{"k1", "k1", "k2"}) {
			t.Fatalf("TakeTagged = %q (the expired k3 must not appear)", got)
		}
		if n, _ := rdb.Exists(ctx, "tag:a", "tag:b").Result(); n != 0 {
			t.Fatal("index sets survived TakeTagged")
		}
	})

	t.Run("streams", func(t *testing.T) {
		id, err := b.Publish(ctx, "st", map[string]any{"a": "1"}, 0)
		if err != nil {
			t.Fatal(err)
		}
		latest, err := b.ReadLatest(ctx, "st", 5)
		if err != nil || len(latest) != 1 || latest[0].ID != id {
			t.Fatalf("ReadLatest = %+v %v", latest, err)
		}
		msgs, err := b.Read(ctx, "st", id, 5, 0)
		if err != nil || msgs != nil {
			t.Fatalf("Read past the end = %+v %v", msgs, err)
		}
	})
}

func TestDeletePatternRing(t *testing.T) {
	ctx := context.Background()
	s1, s2 := redistest.Start(t), redistest.Start(t)
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": s1.Addr(), "b": s2.Addr()}})
	t.Cleanup(func() { _ = ring.Close() })
	for i := range 200 {
		if err := ring.Set(ctx, fmt.Sprint("r:", i), "v", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*redistest.Server{s1, s2} {
		if n, _ := s.Client(t).DBSize(ctx).Result(); n == 0 {
			t.Fatal("a ring shard holds no key")
		}
	}
	b, err := New(ring, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := b.DeletePattern(ctx, "r:*"); err != nil || n != 200 {
		t.Fatalf("DeletePattern on a ring = %d, %v", n, err)
	}
}
