package natsbus_test

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stratacache/strata/internal/natstest"
	"github.com/stratacache/strata/tiered"
	natsbus "github.com/stratacache/strata/tiered/nats"
)

// Two instances of a service, each with its in-process L1 only, stay coherent over NATS: an
// update on one replaces the other's copy.
func Example() {
	ctx := context.Background()
	// A throwaway nats-server for the example; a service connects to its own.
	srv, err := natstest.New(natstest.Options{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	newInstance := func() (*tiered.Cache, *nats.Conn) {
		// Reconnect forever, and connect even while the server is down: the cache starts
		// without its bus and catches up when it comes.
		nc, err := nats.Connect(srv.URL(), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true))
		if err != nil {
			panic(err)
		}
		bus, err := natsbus.New(nc, natsbus.Options{Subject: "shop." + natsbus.DefaultSubject})
		if err != nil {
			panic(err)
		}
		c, err := tiered.New(tiered.Options{Namespace: "shop:", Bus: bus})
		if err != nil {
			panic(err)
		}
		return c, nc
	}
	a, ncA := newInstance()
	b, ncB := newInstance()
	// The caches first, then their connections.
	defer ncA.Close()
	defer ncB.Close()
	defer a.Close()
	defer b.Close()

	price, _ := tiered.Load(ctx, b, "price:42", tiered.MediumTerm, func(context.Context) (int, error) { return 100, nil })
	fmt.Println("b caches", price)

	_ = a.Update(ctx, "price:42", 120, tiered.MediumTerm)
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if price, _, _ = tiered.Get[int](ctx, b, "price:42"); price == 120 {
			break
		}
	}
	fmt.Println("b now serves", price)
	// Output:
	// b caches 100
	// b now serves 120
}
