package redistier_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stratacache/strata/internal/redistest"
	redistier "github.com/stratacache/strata/tiered/redis"
)

func TestStreams(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Shared(t)
	rdb := srv.Client(t)
	ns := fmt.Sprintf("%s:%d:", t.Name(), time.Now().UnixNano()) // unique per run: the server is shared
	c, err := redistier.New(rdb, redistier.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 20 {
		id, err := c.Publish(ctx, ns+"events", map[string]any{"n": i, "kind": "tick"}, 0)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if n, _ := rdb.XLen(ctx, ns+"events").Result(); n != 20 {
		t.Fatalf("stream under the namespace holds %d", n)
	}
	latest, err := c.ReadLatest(ctx, ns+"events", 3)
	if err != nil || len(latest) != 3 || latest[0].ID != ids[19] || latest[0].Fields["n"] != "19" || latest[2].Fields["n"] != "17" {
		t.Fatalf("ReadLatest = %+v %v", latest, err)
	}
	got, err := c.Read(ctx, ns+"events", ids[15], 10, 0)
	if err != nil || len(got) != 4 || got[0].ID != ids[16] || got[3].Fields["kind"] != "tick" {
		t.Fatalf("Read after %s = %+v %v", ids[15], got, err)
	}
	// Nothing new, no block: returns at once.
	if got, err := c.Read(ctx, ns+"events", ids[19], 10, 0); err != nil || got != nil {
		t.Fatalf("Read at the end = %+v %v", got, err)
	}
	// Blocking read wakes up on a publish from elsewhere.
	done := make(chan []redistier.StreamEntry, 1)
	go func() {
		got, err := c.Read(ctx, ns+"events", ids[19], 10, 2*time.Second)
		if err != nil {
			t.Error(err)
		}
		done <- got
	}()
	time.Sleep(50 * time.Millisecond)
	if _, err := c.Publish(ctx, ns+"events", map[string]any{"n": "late"}, 0); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-done:
		if len(got) != 1 || got[0].Fields["n"] != "late" {
			t.Fatalf("blocking Read = %+v", got)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("blocking Read did not return")
	}
	// Blocking with nothing arriving returns empty after the block.
	start := time.Now()
	if got, err := c.Read(ctx, ns+"events", "$", 1, 100*time.Millisecond); err != nil || got != nil || time.Since(start) < 90*time.Millisecond {
		t.Fatalf("empty blocking Read = %+v %v after %v", got, err, time.Since(start))
	}
	// MAXLEN ~ trims.
	for i := range 500 {
		if _, err := c.Publish(ctx, ns+"trimmed", map[string]any{"i": fmt.Sprint(i)}, 10); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := rdb.XLen(ctx, ns+"trimmed").Result(); n >= 500 || n < 10 {
		t.Fatalf("trimmed stream holds %d", n)
	}
	for name, err := range map[string]error{
		"empty lastID": func() error { _, err := c.Read(ctx, ns+"events", "", 1, 0); return err }(),
		"no fields":    func() error { _, err := c.Publish(ctx, ns+"events", nil, 0); return err }(),
		"empty stream": func() error { _, err := c.ReadLatest(ctx, "", 1); return err }(),
		"zero n":       func() error { _, err := c.Read(ctx, ns+"events", "0", 0, 0); return err }(),
	} {
		if !errors.Is(err, redistier.ErrInvalidStreamCall) {
			t.Errorf("%s: %v, want ErrInvalidStreamCall", name, err)
		}
	}
}
