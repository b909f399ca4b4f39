package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stratacache/strata/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// TestOneCacheServesEveryAdapter: one cache with default options (then one built by
// redistier.NewCache over a real Redis) serves decorate, net/http, Echo and gRPC; each origin is
// called once, the second round comes from the cache.
func TestOneCacheServesEveryAdapter(t *testing.T) {
	for _, tc := range []struct{ name, url string }{
		{"embedded", ""},
		{"redis", redistest.Shared(t).URL()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := run(t.Context(), &out, tc.url); err != nil {
				t.Fatal(err)
			}
			t.Log("\n" + out.String())
			s := out.String()
			for _, want := range []string{
				"origin calls: repository 1, net/http 1, echo 1, grpc 1",
				"round 2  decorate: product-7 | net/http: product 7 (net/http call 1) | echo: item 7 (echo call 1) | grpc: product-7 (version 1)",
			} {
				if !strings.Contains(s, want) {
					t.Errorf("output lacks %q", want)
				}
			}
			if tc.url != "" && !strings.Contains(s, "otter → redis") {
				t.Error("the Redis run is not an L1 over Redis")
			}
		})
	}
}
