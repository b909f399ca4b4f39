package echocache

import (
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	httpcache "github.com/stratacache/strata/middleware/http"
)

// Middleware caches the responses of the routes it wraps with the zero [httpcache.Route]
// policy: only responses with explicit freshness are reused.
func Middleware(c *httpcache.Cache) echo.MiddlewareFunc {
	return middleware(c, httpcache.Route{})
}

// RouteMiddleware caches the responses of the routes it wraps with policy rt. It returns an
// error wrapping [httpcache.ErrInvalidOptions] when rt is invalid.
func RouteMiddleware(c *httpcache.Cache, rt httpcache.Route) (echo.MiddlewareFunc, error) {
	if _, err := c.RouteMiddleware(rt); err != nil {
		return nil, err
	}
	return middleware(c, rt), nil
}

func middleware(c *httpcache.Cache, rt httpcache.Route) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(ec echo.Context) error {
			res := ec.Response()
			e := ec.Echo()
			o := httpcache.Origin{
				// During the request the handler runs on ec itself (keeping what earlier
				// middleware stored in it), writing through a Response over the engine's writer.
				Serve: func(w http.ResponseWriter, r *http.Request) {
					req := ec.Request()
					ec.SetRequest(r)
					ec.SetResponse(echo.NewResponse(w, e))
					defer func() {
						ec.SetResponse(res)
						ec.SetRequest(req)
					}()
					if err := next(ec); err != nil {
						ec.Error(err)
					}
				},
			}
			if ec.Request().Method == http.MethodGet || ec.Request().Method == http.MethodHead {
				path := ec.Path()
				names := slices.Clone(ec.ParamNames())
				values := slices.Clone(ec.ParamValues())
				o.Detached = func(w http.ResponseWriter, r *http.Request) {
					nc := e.NewContext(r, w)
					nc.SetPath(path)
					nc.SetParamNames(names...)
					nc.SetParamValues(values...)
					if err := next(nc); err != nil {
						nc.Error(err)
					}
				}
			}
			c.Serve(res, ec.Request(), &rt, o)
			return nil
		}
	}
}
