package httpcache

import "testing"

// The in-process cache New builds when Options.Cache is nil is bounded by bytes, not by a count
// of entries that may each hold MaxBodySize.
func TestDefaultL1BoundedByBytes(t *testing.T) {
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.ownedL1 == nil || !c.ownedL1.Weighted() {
		t.Fatal("the default in-process cache is not bounded by bytes")
	}
}
