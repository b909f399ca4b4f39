package httpcache

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// A background revalidation that is about to start when Close runs does not start: nothing runs
// after Close has returned.
func TestBackgroundRevalidationDoesNotOutliveClose(t *testing.T) {
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var calls, afterClose atomic.Int64
	var closed atomic.Bool
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if closed.Load() {
			afterClose.Add(1)
		}
		n := calls.Add(1)
		w.Header().Set("Cache-Control", "max-age=1, stale-while-revalidate=60")
		w.Header().Set("Age", "5") // stale at once
		fmt.Fprintf(w, "call %d", n)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "http://example.com/bg", nil))
	testHookBackground = func(c *Cache) {
		_ = c.Close()
		closed.Store(true)
	}
	defer func() { testHookBackground = nil }()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "http://example.com/bg", nil))
	if w.Body.String() != "call 1" {
		t.Fatalf("stale response: %q", w.Body)
	}
	time.Sleep(200 * time.Millisecond)
	if n := afterClose.Load(); n != 0 {
		t.Fatalf("%d origin calls after Close returned", n)
	}
}
