package httpcache

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

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

// Each stored response weighs at least its body in the default in-process cache: 64 KiB bodies
// count as 64 KiB, so DefaultL1MaxBytes bounds their memory.
func TestDefaultL1WeighsBodies(t *testing.T) {
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := bytes.Repeat([]byte("x"), 64<<10)
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = w.Write(body)
	}))
	for i := range 3 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, fmt.Sprint("/b", i), nil))
	}
	n := 0
	for k := range c.ownedL1.Keys {
		v, ok := c.ownedL1.Get(k)
		s, isSizer := v.(interface{ Size() int })
		if !ok || !isSizer {
			t.Fatalf("%T has no size", v)
		}
		if s.Size() < len(body) {
			t.Fatalf("a 64 KiB response weighs %d bytes", s.Size())
		}
		n++
	}
	if n != 3 {
		t.Fatalf("%d entries stored", n)
	}
}
