package bustest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stratacache/strata/internal/busframe"
	"github.com/stratacache/strata/tiered"
)

// testEveryKind: every change made on one instance reaches the L1 of the two others.
func testEveryKind(t *testing.T, tr Transport) {
	ctx := context.Background()
	f := newFixture(t, tr)
	a, b, c := f.cache(), f.cache(), f.cache()
	all := []*instance{a, b, c}
	others := []*instance{b, c}

	t.Run("keys", func(t *testing.T) {
		settle(t, all...)
		for _, x := range all {
			x.load(t, "k1", 1)
			x.load(t, "k2", 2)
		}
		if err := a.Invalidate(ctx, "k1", "k2"); err != nil {
			t.Fatal(err)
		}
		for _, x := range all {
			eventually(t, 5*time.Second, "k1 and k2 leave every L1", func() bool { return !x.holds("k1") && !x.holds("k2") })
		}
		for _, x := range others {
			if got := x.load(t, "k1", 10); got != 10 {
				t.Fatalf("k1 reloads as %d, want 10 from the loader", got)
			}
		}
	})

	t.Run("update", func(t *testing.T) {
		for _, x := range all {
			x.load(t, "u", 1)
		}
		if err := a.Update(ctx, "u", 2, tiered.MediumTerm); err != nil {
			t.Fatal(err)
		}
		for _, x := range others {
			eventually(t, 5*time.Second, "the new value in L1", func() bool { v, ok := x.value("u"); return ok && v == 2 })
			if left, ok := x.l1.ExpiresAfter("u"); !ok || left < 59*time.Minute || left > time.Hour {
				t.Fatalf("the updated entry lives %v (%v), want the strategy's hour", left, ok)
			}
		}
		// Another instance updates it in turn.
		if err := b.Update(ctx, "u", 3, tiered.MediumTerm); err != nil {
			t.Fatal(err)
		}
		for _, x := range []*instance{a, c} {
			eventually(t, 5*time.Second, "the second update in L1", func() bool { v, ok := x.value("u"); return ok && v == 3 })
		}
	})

	t.Run("update of a key not held", func(t *testing.T) {
		if err := a.Update(ctx, "fresh", 7, tiered.Default); err != nil {
			t.Fatal(err)
		}
		// Receivers cannot decode a value of a type they never held: they read it from the L2.
		for _, x := range others {
			if got := x.load(t, "fresh", -1); got != 7 {
				t.Fatalf("Load = %d, want the updated 7 from the L2", got)
			}
		}
	})

	t.Run("pattern", func(t *testing.T) {
		for _, x := range all {
			x.load(t, "p:1", 1)
			x.load(t, "p:2", 2)
			x.load(t, "q:1", 3)
		}
		for _, x := range all {
			if !x.holds("p:1") || !x.holds("q:1") {
				t.Fatal("p:1 or q:1 missing from L1 before the invalidation")
			}
		}
		if err := a.InvalidatePattern(ctx, "p:*"); err != nil {
			t.Fatal(err)
		}
		for _, x := range all {
			eventually(t, 5*time.Second, "p:* leaves every L1", func() bool { return !x.holds("p:1") && !x.holds("p:2") })
			if !x.holds("q:1") {
				t.Fatal("q:1 was removed by p:*")
			}
		}
	})

	t.Run("tags", func(t *testing.T) {
		// a writes t1 with the tag; b and c only read it (promoted from the L2, no tags known).
		if err := a.Set(ctx, "t1", 1, tiered.Default, tiered.Tags("red")); err != nil {
			t.Fatal(err)
		}
		// c loads t2 with the tag itself; b holds an untagged key.
		if _, err := tiered.Load(ctx, c.Cache, "t2", tiered.Default, func(context.Context) (int, error) { return 2, nil }, tiered.Tags("red", "blue")); err != nil {
			t.Fatal(err)
		}
		settle(t, all...) // the invalidation of t1 that Set sent
		for _, x := range others {
			x.load(t, "t1", -1)
			x.load(t, "t2", -1)
			x.load(t, "plain", 5)
		}
		for _, x := range all {
			if !x.holds("t1") || x != a && !x.holds("t2") {
				t.Fatal("a tagged key is missing from L1 before the invalidation")
			}
		}
		if err := a.InvalidateTags(ctx, "red"); err != nil {
			t.Fatal(err)
		}
		for _, x := range all {
			eventually(t, 5*time.Second, "tagged keys leave every L1", func() bool { return !x.holds("t1") && !x.holds("t2") })
		}
		if !b.holds("plain") {
			t.Fatal("an untagged key was removed")
		}
	})

	t.Run("clear", func(t *testing.T) {
		for _, x := range all {
			x.load(t, "c1", 1)
		}
		if err := a.InvalidateAll(ctx); err != nil {
			t.Fatal(err)
		}
		for _, x := range all {
			eventually(t, 5*time.Second, "every L1 empty", func() bool { return !x.holds("c1") && x.l1.Len() == 0 })
		}
	})

	// Every message a sent comes back to it once, as a skipped echo.
	eventually(t, 5*time.Second, "a's echoes", func() bool { s := a.inv(); return s.Sent > 0 && s.EchoesSkipped == s.Sent })
	for _, x := range others {
		s := x.inv()
		if s.Applied == 0 || s.Malformed != 0 || s.Failed != 0 || s.Drops != 0 || !s.Subscribed {
			t.Errorf("receiver stats %+v", s)
		}
	}
	if ia, ib := a.inv().InstanceID, b.inv().InstanceID; ia == ib || ia == "" {
		t.Errorf("instance ids %q and %q", ia, ib)
	}
}

// testEchoes: a cache skips its own messages and applies the others'.
func testEchoes(t *testing.T, tr Transport) {
	ctx := context.Background()
	f := newFixture(t, tr)
	a, b := f.cache(), f.cache()
	const n = 20
	for i := range n {
		a.load(t, fmt.Sprint("a", i), i) // a's own copy must not be touched by its echo
		if err := a.Invalidate(ctx, fmt.Sprint("k", i)); err != nil {
			t.Fatal(err)
		}
	}
	settle(t, a, b)
	if s := a.inv(); s.Sent != n || s.EchoesSkipped != n || s.Applied != 0 {
		t.Fatalf("sender stats %+v: %d sent, each should come back once as a skipped echo", s, n)
	}
	if s := b.inv(); s.Applied != n || s.EchoesSkipped != 0 {
		t.Fatalf("receiver stats %+v: want %d applied", s, n)
	}
	for i := range n {
		if !a.holds(fmt.Sprint("a", i)) {
			t.Fatalf("a lost a%d", i)
		}
	}
}

// testMalformed: foreign and corrupt messages are ignored and counted; the bus goes on.
func testMalformed(t *testing.T, tr Transport) {
	ctx := context.Background()
	f := newFixture(t, tr)
	a, b := f.cache(), f.cache()
	good := busframe.Encode(&busframe.Message{Kind: busframe.Keys, Sender: "x", Keys: []string{"k"}})
	bad := [][]byte{
		{},
		[]byte("hello"),
		[]byte("SI"),
		good[:len(good)-1],
		append(append([]byte(nil), good...), 0),
		[]byte("SI\x02\x01\x01x\x01\x01k"),
		[]byte("SI\x01\x09\x01x"),
	}
	for _, p := range bad {
		f.srv.Inject(t, f.topic, p)
	}
	b.load(t, "k", 1)
	if err := a.Invalidate(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	settle(t, a, b)
	if s := b.inv(); s.Malformed != uint64(len(bad)) || s.Applied != 1 || s.Drops != 0 {
		t.Fatalf("receiver stats %+v: want %d malformed, 1 applied", s, len(bad))
	}
	if b.holds("k") {
		t.Fatal("the valid message after the bad ones was not applied")
	}
	if s := a.inv(); s.Malformed != uint64(len(bad)) {
		t.Fatalf("sender stats %+v: want %d malformed", s, len(bad))
	}
}

// testConvergence: 2,000 updates from concurrent writers, with readers on the receivers; every
// receiver ends on each key's last value, having received every message.
func testConvergence(t *testing.T, tr Transport) {
	ctx := context.Background()
	f := newFixture(t, tr)
	a, b, c := f.cache(), f.cache(), f.cache()
	const keys, updates, writers = 10, 2000, 5
	receivers := []*instance{b, c}
	for _, x := range receivers {
		for k := range keys {
			x.load(t, fmt.Sprint("n", k), 0)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, x := range receivers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
				for k := range keys {
					_, _, _ = tiered.Get[int](ctx, x.Cache, fmt.Sprint("n", k))
				}
			}
		})
	}
	// Each writer owns two keys: the updates of one key are sequential, so its last value is
	// well defined.
	var wwg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wwg.Go(func() {
			for i := 1; i <= updates; i++ {
				if i%writers != w {
					continue
				}
				if err := a.Update(ctx, fmt.Sprint("n", i%keys), i, tiered.Default); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wwg.Wait()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, x := range receivers {
		for deadline := time.Now().Add(20 * time.Second); x.inv().Applied != updates; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("not all updates applied within 20s: %+v", x.inv())
			}
		}
		for k := range keys {
			want := updates - keys + k
			if k == 0 {
				want = updates
			}
			if v, ok := x.value(fmt.Sprint("n", k)); !ok || v != want {
				t.Fatalf("n%d: L1 serves %d (%v), want %d", k, v, ok, want)
			}
		}
		if s := x.inv(); s.Received != updates || s.Failed != 0 || s.Drops != 0 {
			t.Fatalf("receiver stats %+v", s)
		}
	}
}
