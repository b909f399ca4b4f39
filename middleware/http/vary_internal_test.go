package httpcache

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratacache/strata/tiered"
)

// A variant the Vary marker does not list (left behind when concurrent stores of the marker lost
// it, so that a purge did not reach it) is never served.
func TestUnlistedVariantNotServed(t *testing.T) {
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var calls atomic.Int64
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Vary", "Accept-Language")
		fmt.Fprintf(w, "%s %d", r.Header.Get("Accept-Language"), n)
	}))
	get := func(lang string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "http://example.com/v", nil)
		r.Header.Set("Accept-Language", lang)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	get("en")
	get("fr")
	ctx := t.Context()
	canon, skey, _ := c.requestKey(httptest.NewRequest("GET", "http://example.com/v", nil))
	m, found, err := tiered.Get[*entry](ctx, c.tc, skey)
	if err != nil || !found || !m.marker || len(m.variants) != 2 {
		t.Fatalf("marker: %+v %v %v", m, found, err)
	}
	// The marker as a concurrent store may leave it: without the "en" variant.
	lost := &entry{key: canon, marker: true, varyNames: m.varyNames, variants: m.variants[1:], expiresAt: m.expiresAt}
	if err := c.tc.Set(ctx, skey, lost, tiered.Custom(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// An unsafe request purges what the marker lists; a new variant then writes a new marker.
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "http://example.com/v", strings.NewReader("x")))
	get("de")
	if w := get("en"); strings.Contains(w.Body.String(), "en 1") {
		t.Fatalf("a variant left out of the marker was served: %q (%s)", w.Body, w.Header().Get("Cache-Status"))
	}
}
