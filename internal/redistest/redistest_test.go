package redistest

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { Main(m) }

func TestPauseKillRestart(t *testing.T) {
	s := Start(t)
	c := s.Client(t)
	ctx := context.Background()
	short := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 200*time.Millisecond) }
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := short()
	if err := c.Get(cctx, "k").Err(); err == nil {
		t.Fatal("a paused server answered")
	}
	cancel()
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("after Resume: %q %v", v, err)
	}
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	cctx, cancel = short()
	if err := c.Get(cctx, "k").Err(); err == nil {
		t.Fatal("a killed server answered")
	}
	cancel()
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, "k").Err(); err != redis.Nil {
		t.Fatalf("a restarted server should be empty: %v", err)
	}
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := s.Pause(); err == nil {
		t.Fatal("Pause of a killed server succeeded")
	}
}
