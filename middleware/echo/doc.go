// Package echocache is the Echo v4 face of the HTTP response cache in middleware/http (package
// httpcache): an echo.MiddlewareFunc that drives the same engine, with the same RFC 9111
// shared-cache semantics and security defaults. The folder is middleware/echo; the package is
// named echocache so that it does not clash with echo itself.
//
// Build one [httpcache.Cache] and use it from every route; give routes their own policy with
// [RouteMiddleware]:
//
//	c, _ := httpcache.New(httpcache.Options{Cache: tc})
//	e.GET("/products/:id", product, echocache.Middleware(c))
//	catalogue, _ := echocache.RouteMiddleware(c, httpcache.Route{Strategy: tiered.MediumTerm})
//	e.GET("/catalogue", list, catalogue)
//
// An error returned by the handler is handed to Echo's HTTPErrorHandler inside the middleware, so
// that the error response goes through the cache (which does not store error statuses without
// explicit freshness); the middleware then returns nil.
//
// Background revalidations (stale-while-revalidate) run after the client's request has ended, when
// Echo has recycled its context: they call the handler with a fresh context that carries the
// route's path and parameters, but not values set on the original context by other middleware.
package echocache
