package echocache_test

import (
	"net/http"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/stratacache/strata/internal/httpcachetest"
	"github.com/stratacache/strata/internal/redistest"
	echocache "github.com/stratacache/strata/middleware/echo"
	httpcache "github.com/stratacache/strata/middleware/http"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// adapter serves h as every route of an Echo server, behind the cache.
func adapter(t testing.TB, c *httpcache.Cache, rt httpcache.Route, h http.Handler) http.Handler {
	t.Helper()
	mw, err := echocache.RouteMiddleware(c, rt)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.Any("/*", echo.WrapHandler(h), mw)
	return e
}

func TestSecurity(t *testing.T)  { httpcachetest.RunSecurity(t, adapter) }
func TestSemantics(t *testing.T) { httpcachetest.RunSemantics(t, adapter) }
func TestStreams(t *testing.T)   { httpcachetest.RunStreams(t, adapter) }
