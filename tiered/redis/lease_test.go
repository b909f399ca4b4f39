package redistier_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stratacache/strata/internal/redistest"
	redistier "github.com/stratacache/strata/tiered/redis"
)

// TestLeases runs the lease protocol of the backend on a single node (SET NX GET, and the script
// that stands in for it before Redis 7.0) and on a 3-master Cluster.
func TestLeases(t *testing.T) {
	srv := redistest.Shared(t)
	t.Run("SetNXGet", func(t *testing.T) { testLeases(t, srv.Client(t), false) })
	t.Run("Scripted", func(t *testing.T) { testLeases(t, srv.Client(t), true) })
	t.Run("Cluster", func(t *testing.T) { testLeases(t, redistest.StartCluster(t).Client(t), false) })
}

func testLeases(t *testing.T, rdb redis.UniversalClient, scripted bool) {
	ctx := context.Background()
	b, err := redistier.New(rdb, redistier.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if scripted {
		redistier.ScriptedLeases(b)
	}
	ns := fmt.Sprintf("lease:%s:%d:", t.Name(), time.Now().UnixNano())
	keys := []string{ns + "a", ns + "b", ns + "c", ns + "d"} // several slots on a Cluster
	mustTake := func(token string, want []bool, wantData []string) {
		t.Helper()
		data, taken, err := b.GetOrLease(ctx, keys, token, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(taken, want) {
			t.Fatalf("%s took %v, want %v", token, taken, want)
		}
		for i, d := range data {
			if string(d) != wantData[i] {
				t.Fatalf("%s read %q under %s, want %q", token, d, keys[i], wantData[i])
			}
		}
	}
	if err := b.Set(ctx, keys[3], []byte("stored"), time.Minute); err != nil {
		t.Fatal(err)
	}
	// The free keys are leased; a stored entry is returned and leaves no lease.
	mustTake("t1", []bool{true, true, true, false}, []string{"", "", "", "stored"})
	// A held lease is another's to the second token, still its own to the first.
	mustTake("t2", []bool{false, false, false, false}, []string{"", "", "", "stored"})
	mustTake("t1", []bool{true, true, true, false}, []string{"", "", "", "stored"})

	// While leased, the backend's reads report no entry.
	if v, ok, err := b.Get(ctx, keys[0]); err != nil || ok || v != nil {
		t.Fatalf("Get of a leased key: %q, %v, %v", v, ok, err)
	}
	got, err := b.GetMany(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != nil || got[1] != nil || got[2] != nil || string(got[3]) != "stored" {
		t.Fatalf("GetMany of leased keys: %q", got)
	}

	// keys[1] is set by another writer and keys[2] deleted: both lose t1's lease.
	if err := b.Set(ctx, keys[1], []byte("newer"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, keys[2]); err != nil {
		t.Fatal(err)
	}
	data := [][]byte{[]byte("v0"), []byte("v1"), []byte("v2"), []byte("v3")}
	ttls := []time.Duration{time.Minute, time.Minute, time.Minute, time.Minute}
	if stored, err := b.SetLeased(ctx, keys, "t2", data, ttls); err != nil || slices.Contains(stored, true) {
		t.Fatalf("SetLeased with another's token stored %v (%v)", stored, err)
	}
	stored, err := b.SetLeased(ctx, keys, "t1", data, ttls)
	if err != nil || !slices.Equal(stored, []bool{true, false, false, false}) {
		t.Fatalf("SetLeased stored %v (%v), want only the key still leased", stored, err)
	}
	got, err = b.GetMany(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"v0", "newer", "", "stored"}; !slices.Equal(strs(got), want) {
		t.Fatalf("after SetLeased: %q, want %q", strs(got), want)
	}
	if ttl := rdb.PTTL(ctx, keys[0]).Val(); ttl <= 50*time.Second {
		t.Fatalf("leased write has ttl %v, want the entry's", ttl)
	}

	// A lease is released by its own token only; a released key is free again.
	mustTake("t3", []bool{false, false, true, false}, []string{"v0", "newer", "", "stored"})
	if err := b.ReleaseLeases(ctx, keys[2:3], "t4"); err != nil {
		t.Fatal(err)
	}
	mustTake("t4", []bool{false, false, false, false}, []string{"v0", "newer", "", "stored"})
	if err := b.ReleaseLeases(ctx, keys, "t3"); err != nil {
		t.Fatal(err)
	}
	mustTake("t4", []bool{false, false, true, false}, []string{"v0", "newer", "", "stored"})

	// A lease expires after its ttl.
	if _, taken, err := b.GetOrLease(ctx, []string{ns + "e"}, "t5", 50*time.Millisecond); err != nil || !taken[0] {
		t.Fatalf("lease of e: %v, %v", taken, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, taken, err := b.GetOrLease(ctx, []string{ns + "e"}, "t6", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if taken[0] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lease did not expire")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func strs(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}
