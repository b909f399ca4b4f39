package echocache_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/labstack/echo/v4"

	echocache "github.com/stratacache/strata/middleware/echo"
	httpcache "github.com/stratacache/strata/middleware/http"
	"github.com/stratacache/strata/tiered"
)

func ExampleRouteMiddleware() {
	c, err := httpcache.New(httpcache.Options{}) // pass Options.Cache for L1 + Redis
	if err != nil {
		panic(err)
	}
	defer c.Close()
	catalogue, err := echocache.RouteMiddleware(c, httpcache.Route{Strategy: tiered.ShortTerm})
	if err != nil {
		panic(err)
	}
	e := echo.New()
	e.GET("/catalogue", func(ec echo.Context) error { return ec.String(http.StatusOK, "catalogue") }, catalogue)
	e.GET("/product/:id", func(ec echo.Context) error {
		ec.Response().Header().Set("Cache-Control", "public, max-age=30")
		return ec.String(http.StatusOK, "product "+ec.Param("id"))
	}, echocache.Middleware(c))
	for _, path := range []string{"/catalogue", "/catalogue", "/product/1", "/product/1"} {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest("GET", "http://example.com"+path, nil))
		fmt.Println(w.Body.String(), "|", w.Header().Get("Cache-Status"))
	}
	// Output:
	// catalogue | strata; fwd=uri-miss; fwd-status=200; stored
	// catalogue | strata; hit; ttl=300
	// product 1 | strata; fwd=uri-miss; fwd-status=200; stored
	// product 1 | strata; hit; ttl=30
}
