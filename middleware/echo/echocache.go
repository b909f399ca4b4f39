package echocache

import (
	"bufio"
	"net"
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
			c.Serve(&responseWriter{res: res}, ec.Request(), &rt, o)
			return nil
		}
	}
}

// responseWriter is the client's writer as the engine sees it: Echo's Response, so that Echo
// records the status and size, except for informational responses, which Echo would take for the
// final one and which go straight to the underlying writer.
type responseWriter struct{ res *echo.Response }

func (w *responseWriter) Header() http.Header         { return w.res.Header() }
func (w *responseWriter) Write(p []byte) (int, error) { return w.res.Write(p) }

func (w *responseWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.res.Writer.WriteHeader(code)
		return
	}
	w.res.WriteHeader(code)
}

// FlushError flushes the underlying writer.
func (w *responseWriter) FlushError() error {
	if !w.res.Committed {
		w.res.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(w.res.Writer).Flush()
}

// Hijack hands over the connection.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.res.Writer).Hijack()
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.res.Writer }
