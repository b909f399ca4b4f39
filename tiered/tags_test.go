package tiered

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestTagIndexBounded(t *testing.T) {
	x := newTagIndex(100)
	now := time.Now().UnixNano()
	for i := range 100 {
		if !x.add(fmt.Sprint("k", i), []string{"a"}, now+int64(time.Hour)) {
			t.Fatalf("add %d refused below the limit", i)
		}
	}
	if x.add("over", []string{"a"}, now+int64(time.Hour)) {
		t.Fatal("add accepted past the limit")
	}
	// Expired entries make room.
	y := newTagIndex(100)
	for i := range 100 {
		y.add(fmt.Sprint("k", i), []string{"a", "b"}[i%2:i%2+1], now+int64(time.Millisecond))
	}
	time.Sleep(2 * time.Millisecond)
	for i := range 100 {
		if !y.add(fmt.Sprint("n", i), []string{"c"}, now+int64(time.Hour)) {
			t.Fatalf("expired entries were not swept (n=%d)", y.len())
		}
	}
	if n := y.len(); n != 100 {
		t.Fatalf("index holds %d pairs, want 100", n)
	}
	if keys := y.take([]string{"a", "b"}); len(keys) != 0 {
		t.Fatalf("expired keys returned: %v", keys)
	}
	if keys := y.take([]string{"c"}); len(keys) != 100 || y.len() != 0 {
		t.Fatalf("take returned %d keys, left %d", len(keys), y.len())
	}
}

// TestTagOverflowKeepsOutOfL1: when the in-process index is full, a tagged entry stays out of L1
// instead of escaping InvalidateTags.
func TestTagOverflowKeepsOutOfL1(t *testing.T) {
	ctx := context.Background()
	c, err := New(Options{MaxTagEntries: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, k := range []string{"a", "b", "c"} {
		if err := c.Set(ctx, k, 1, Default, Tags("t")); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := c.l1.Get("c"); ok {
		t.Fatal("unindexed tagged entry kept in L1")
	}
	if s := c.Stats().Invalidation; s.TagOverflow != 1 {
		t.Fatalf("stats %+v", s)
	}
	if err := c.InvalidateTags(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.l1.Get("a"); ok {
		t.Fatal("a survived InvalidateTags")
	}
}
