package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stratacache/strata/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

func TestRun(t *testing.T) {
	var out bytes.Buffer
	err := run(t.Context(), &out, config{redisURL: redistest.Shared(t).URL(), dir: t.TempDir(), products: 50})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"first process, cold:   50 products in",
		", 50 database loads\n",
		"first process, warm:   50 products in",
		"hits: L1 50, disk 0, redis 0\n",
		"redis lost the entries",
		"disk tier reopened with 50 entries",
		", 0 database loads, hits: L1 0, disk 50, redis 0\n",
		"second process, again: 50 products in",
		"hits: L1 50, disk 50, redis 0\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// With Redis gone altogether, a restarted process is still served from its disk tier.
func TestDiskStaysWarmWithRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	dir := t.TempDir()
	ns := fmt.Sprintf("threetier-test:%d:", time.Now().UnixNano())
	ctx := t.Context()
	db := &Catalogue{}

	p1, err := start(rdb, dir, ns)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readAll(ctx, p1.cache, db, 20); err != nil {
		t.Fatal(err)
	}
	if err := p1.close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}

	down := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1, DialTimeout: 50 * time.Millisecond})
	defer down.Close()
	p2, err := start(down, dir, ns)
	if err != nil {
		t.Fatal(err)
	}
	defer p2.close()
	if _, err := readAll(ctx, p2.cache, db, 20); err != nil {
		t.Fatal(err)
	}
	s := p2.cache.Stats()
	if db.loads.Load() != 20 || s.Tiers[1].Hits != 20 || s.Loads != 0 {
		t.Fatalf("after the restart with Redis down: %d database loads in all, stats %+v", db.loads.Load(), s)
	}
	if err := p2.close(); err != nil {
		t.Fatal(err)
	}
}
