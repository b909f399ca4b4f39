package tiered_test

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
)

// validHeader builds an envelope header by hand, as a foreign writer might.
func envelopeBytes(version, flags byte, created, staleAt, expiresAt int64, payload string) []byte {
	b := []byte{'S', 'T', version, flags}
	b = binary.BigEndian.AppendUint64(b, uint64(created))
	b = binary.BigEndian.AppendUint64(b, uint64(staleAt))
	b = binary.BigEndian.AppendUint64(b, uint64(expiresAt))
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	return append(b, payload...)
}

// TestCorruptEntries plants undecodable bytes in Redis with raw SETs. Each is a miss for the
// reader — never an error or a panic — is deleted, and is counted.
func TestCorruptEntries(t *testing.T) {
	srv := redistest.Shared(t)
	rdb := srv.Client(t)
	ns := namespace(t)
	c := newCache(t, tiered.Options{Namespace: ns, Tiers: []tiered.Tier{{Backend: newL1(t)}, {Backend: newL2(t, rdb, "redis")}}})
	ctx := context.Background()
	now := time.Now().UnixNano()
	later := now + int64(time.Hour)
	valid := envelopeBytes(1, 0, now, later, later, `{"id":5}`)
	cases := map[string][]byte{
		"empty":            {},
		"garbage":          []byte("garbage"),
		"foreign json":     []byte(`{"id":5,"name":"not ours, no header at all, but long enough"}`),
		"truncated":        valid[:len(valid)-3],
		"header only":      valid[:20],
		"future version":   envelopeBytes(9, 0, now, later, later, `{"id":5}`),
		"unknown flag":     envelopeBytes(1, 0x80, now, later, later, `{"id":5}`),
		"times reversed":   envelopeBytes(1, 0, now, now-1, later, `{"id":5}`),
		"bad payload":      envelopeBytes(1, 0, now, later, later, `{"id":"five"`),
		"wrong type":       envelopeBytes(1, 0, now, later, later, `["a","b"]`),
		"bad gzip":         envelopeBytes(1, 2, now, later, later, `not gzip`),
		"negative w/ body": envelopeBytes(1, 1, now, later, later, `{}`),
	}
	n := 0
	for name, raw := range cases {
		n++
		key := "corrupt:" + strings.ReplaceAll(name, " ", "-")
		if err := rdb.Set(ctx, ns+key, raw, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		v, found, err := tiered.Get[Payload](ctx, c, key)
		if err != nil || found {
			t.Fatalf("%s: Get = %+v, found=%v, err=%v; want a plain miss", name, v, found, err)
		}
		if rdb.Exists(ctx, ns+key).Val() != 0 {
			t.Fatalf("%s: corrupt entry not deleted", name)
		}
		if got := c.Stats().Corrupt; got != uint64(n) {
			t.Fatalf("%s: corrupt count = %d, want %d", name, got, n)
		}
	}
	// Load over a corrupt entry gets the loader's value and rewrites a valid entry.
	if err := rdb.Set(ctx, ns+"fixme", "\x00\x01junk", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	v, err := tiered.Load(ctx, c, "fixme", tiered.ShortTerm, func(context.Context) (Payload, error) { return newPayload(8), nil })
	if err != nil || v.ID != 8 {
		t.Fatalf("Load over corrupt entry = %+v, %v", v, err)
	}
	raw, _ := rdb.Get(ctx, ns+"fixme").Bytes()
	if len(raw) < 32 || string(raw[:2]) != "ST" {
		t.Fatalf("entry not rewritten: %q", raw)
	}
}

func resilientCache(t *testing.T, client redis.UniversalClient, opts tiered.Options) *tiered.Cache {
	t.Helper()
	opts.Namespace = namespace(t)
	opts.Tiers = []tiered.Tier{{Backend: newL1(t)}, {Backend: newL2(t, client, "redis"), Timeout: 100 * time.Millisecond}}
	if opts.Breaker.Failures == 0 {
		opts.Breaker = tiered.BreakerOptions{Failures: 3, Cooldown: 200 * time.Millisecond}
	}
	return newCache(t, opts)
}

// TestRedisKilledAndRestarted: with Redis gone, reads keep succeeding from L1 and the loader with
// no caller-visible error, the breaker opens and writes are dropped; once Redis is back the
// breaker closes and L2 fills again.
func TestRedisKilledAndRestarted(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	c := resilientCache(t, rdb, tiered.Options{})
	ctx := context.Background()
	ns := c.Namespace()
	var calls atomic.Int64
	load := func(v int) func(context.Context) (int, error) {
		return func(context.Context) (int, error) { calls.Add(1); return v, nil }
	}
	if _, err := tiered.Load(ctx, c, "warm", tiered.ShortTerm, load(1)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		v, err := tiered.Load(ctx, c, "warm", tiered.ShortTerm, load(1))
		if err != nil || v != 1 {
			t.Fatalf("L1 read with Redis down = %v, %v", v, err)
		}
		key := "cold" + string(rune('a'+i))
		v, err = tiered.Load(ctx, c, key, tiered.ShortTerm, load(i))
		if err != nil || v != i {
			t.Fatalf("load with Redis down = %v, %v", v, err)
		}
	}
	s := c.Stats()
	l2 := s.Tiers[1]
	if l2.Breaker != tiered.BreakerOpen || l2.Errors < 3 || l2.Skipped == 0 || l2.DroppedWrites == 0 {
		t.Fatalf("with Redis down: %+v", l2)
	}

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; c.Stats().Tiers[1].Breaker != tiered.BreakerClosed; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("breaker never closed: %+v", c.Stats().Tiers[1])
		}
		_, _ = tiered.Load(ctx, c, "probe"+string(rune('a'+i%26)), tiered.ShortTerm, load(0))
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := tiered.Load(ctx, c, "after", tiered.ShortTerm, load(5)); err != nil {
		t.Fatal(err)
	}
	if rdb.Exists(ctx, ns+"after").Val() != 1 {
		t.Fatal("L2 not written after the breaker closed")
	}
}

// TestRedisPaused: a frozen Redis (SIGSTOP) never holds a caller longer than the tier timeout,
// whether or not the client honours context deadlines itself.
func TestRedisPaused(t *testing.T) {
	srv := redistest.Start(t)
	for _, honours := range []bool{true, false} {
		name := "ContextTimeoutEnabled"
		if !honours {
			name = "no ContextTimeoutEnabled"
		}
		t.Run(name, func(t *testing.T) {
			client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: honours, ReadTimeout: 2 * time.Second, MaxRetries: -1})
			defer client.Close()
			c := resilientCache(t, client, tiered.Options{Breaker: tiered.BreakerOptions{Failures: 100}})
			ctx := context.Background()
			if err := client.Ping(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			if err := srv.Pause(); err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				start := time.Now()
				v, err := tiered.Load(ctx, c, "k"+string(rune('a'+i)), tiered.ShortTerm, func(context.Context) (int, error) { return i, nil })
				d := time.Since(start)
				if err != nil || v != i {
					t.Fatalf("Load with Redis paused = %v, %v", v, err)
				}
				// One read and one write, each bounded by the 100 ms tier timeout.
				if d > 400*time.Millisecond {
					t.Fatalf("Load took %v with a 100ms tier timeout", d)
				}
			}
			if s := c.Stats().Tiers[1]; s.Timeouts < 3 {
				t.Fatalf("timeouts = %d, want >= 3", s.Timeouts)
			}
			if err := srv.Resume(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestFailClosed: a fail-closed cache reports the tier failure instead of hiding it.
func TestFailClosed(t *testing.T) {
	srv := redistest.Start(t)
	c := resilientCache(t, srv.Client(t), tiered.Options{FailClosed: true})
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	_, err := tiered.Load(context.Background(), c, "k", tiered.ShortTerm, countingLoader(&calls, 1, 0))
	if !errors.Is(err, tiered.ErrTierUnavailable) || calls.Load() != 0 {
		t.Fatalf("err = %v, loader calls = %d", err, calls.Load())
	}
	if err := c.Set(context.Background(), "k", 1, tiered.ShortTerm); !errors.Is(err, tiered.ErrTierUnavailable) {
		t.Fatalf("Set: err = %v", err)
	}
}

// TestBreakerProbeAbandoned: when the caller of the half-open probe gives up before the tier
// answers, the breaker must not stay half-open (skipping the tier for good): a later call probes.
func TestBreakerProbeAbandoned(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	c := resilientCache(t, rdb, tiered.Options{Breaker: tiered.BreakerOptions{Failures: 1, Cooldown: 50 * time.Millisecond}})
	ctx := context.Background()
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	_ = c.Set(ctx, "k", 1, tiered.ShortTerm) // times out: the breaker opens
	if st := c.Stats().Tiers[1].Breaker; st != tiered.BreakerOpen {
		t.Fatalf("breaker %v after a timeout, want open", st)
	}
	time.Sleep(60 * time.Millisecond)
	// The probe's caller gives up long before the 100 ms tier timeout.
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	_ = c.Set(short, "k", 1, tiered.ShortTerm)
	cancel()
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for c.Stats().Tiers[1].Breaker != tiered.BreakerClosed {
		if time.Now().After(deadline) {
			t.Fatalf("breaker stuck at %v after an abandoned probe", c.Stats().Tiers[1].Breaker)
		}
		_ = c.Set(ctx, "k", 2, tiered.ShortTerm)
		time.Sleep(20 * time.Millisecond)
	}
}
