package httpcache_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stratacache/strata/internal/httpcachetest"
)

// testTagAndPatternPurge checks that tag and pattern purges answer 501 while the tiered cache
// cannot invalidate by tag or pattern.
func testTagAndPatternPurge(t *testing.T, env *httpcachetest.Env, h, ph http.Handler) {
	if w := purge(ph, "s3cret", url.Values{"tag": {"product-1"}}); w.Code != http.StatusNotImplemented {
		t.Fatalf("tag purge without support: %d", w.Code)
	}
}
