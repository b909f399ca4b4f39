package memcachedtier

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/stratacache/strata/internal/memcachedtest"
	"github.com/stratacache/strata/tiered"
)

func TestMain(m *testing.M) { memcachedtest.Main(m) }

func newBackend(t *testing.T) (*Backend, *memcache.Client) {
	t.Helper()
	c := memcachedtest.Shared(t).Client(t)
	b, err := New(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return b, c
}

func TestNewValidates(t *testing.T) {
	if _, err := New(nil, Options{}); !errors.Is(err, ErrNilClient) {
		t.Fatalf("New(nil) = %v", err)
	}
	if _, err := New(memcache.New("127.0.0.1:1"), Options{BatchConcurrency: -1}); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("negative BatchConcurrency: %v", err)
	}
	b, err := New(memcache.New("127.0.0.1:1"), Options{})
	if err != nil || b.Name() != "memcached" || b.conc != DefaultBatchConcurrency || b.trust {
		t.Fatalf("defaults: %+v %v", b, err)
	}
	b, err = New(memcache.New("127.0.0.1:1"), Options{Name: "mc2", TrustClientTimeout: true, BatchConcurrency: 2})
	if err != nil || b.Name() != "mc2" || b.conc != 2 || !b.trust {
		t.Fatalf("options: %+v %v", b, err)
	}
}

func TestExpiration(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		ttl  time.Duration
		want int32
	}{
		{time.Nanosecond, 1},
		{time.Second, 1},
		{1500 * time.Millisecond, 2},
		{time.Hour, 3600},
		{30 * 24 * time.Hour, maxRelative},
		{30*24*time.Hour + time.Millisecond, 1_800_000_000 + maxRelative + 1},
		{31 * 24 * time.Hour, 1_800_000_000 + 31*24*3600},
		{math.MaxInt64, math.MaxInt32},
	} {
		if got := expiration(tc.ttl, now); got != tc.want {
			t.Errorf("expiration(%v) = %d, want %d", tc.ttl, got, tc.want)
		}
	}
}

// A TTL beyond 30 days goes as an absolute time; sent as relative seconds the server would read
// it as a date in 1970 and drop the item at once.
func TestTTLBeyondThirtyDaysIsKept(t *testing.T) {
	b, _ := newBackend(t)
	ctx := context.Background()
	if err := b.Set(ctx, "mc:long-ttl", []byte("v"), 40*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := b.Get(ctx, "mc:long-ttl"); !ok || err != nil || string(v) != "v" {
		t.Fatalf("Get = %q %v %v", v, ok, err)
	}
}

func TestKeysMemcachedCannotTakeAreHashed(t *testing.T) {
	b, raw := newBackend(t)
	ctx := context.Background()
	keys := []string{
		strings.Repeat("a", 250),        // the longest plain key
		strings.Repeat("a", 251),        // one byte too long
		strings.Repeat("b", 4096),       // far too long
		"mc:with space",                 //
		"mc:with\nnewline\r\n",          // would end the command
		"mc:ünïcødé",                    // bytes above 0x7e
		"mc:\x00nul",                    //
		"",                              // Memcached has no empty key
		"mc:with space and a long tail", //
	}
	for i, k := range keys {
		if err := b.Set(ctx, k, []byte{byte(i)}, time.Minute); err != nil {
			t.Fatalf("Set(%.20q): %v", k, err)
		}
	}
	for i, k := range keys {
		v, ok, err := b.Get(ctx, k)
		if err != nil || !ok || len(v) != 1 || v[0] != byte(i) {
			t.Fatalf("Get(%.20q) = %v %v %v", k, v, ok, err)
		}
		name, hashed := itemKey(k)
		if hashed != (i != 0) {
			t.Fatalf("%.20q hashed = %v", k, hashed)
		}
		it, err := raw.Get(name)
		if err != nil {
			t.Fatalf("raw Get(%q): %v", name, err)
		}
		if hashed && (it.Flags != flagHashed || !strings.Contains(string(it.Value), k)) {
			t.Fatalf("hashed item of %.20q does not carry its key: flags %d", k, it.Flags)
		}
	}
	got, err := b.GetMany(ctx, append(keys, keys[3], "mc:missing", strings.Repeat("z", 300)))
	if err != nil {
		t.Fatal(err)
	}
	for i := range keys {
		if len(got[i]) != 1 || got[i][0] != byte(i) {
			t.Fatalf("GetMany[%d] = %v", i, got[i])
		}
	}
	if len(got[len(keys)]) != 1 || got[len(keys)+1] != nil || got[len(keys)+2] != nil {
		t.Fatalf("GetMany tail = %v", got[len(keys):])
	}
	if err := b.Delete(ctx, keys...); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if _, ok, _ := b.Get(ctx, k); ok {
			t.Fatalf("%.20q survived Delete", k)
		}
	}
}

// An item found under a hashed key but written for another key (a hash collision, forced here by
// writing it directly) is a miss, and so is an item whose flags do not match how it was stored.
func TestFingerprintMismatchIsAMiss(t *testing.T) {
	b, raw := newBackend(t)
	ctx := context.Background()
	long := "mc:" + strings.Repeat("x", 300)
	other := "mc:" + strings.Repeat("y", 300)
	name, _ := itemKey(long)
	forged := wrap(other, []byte("other's value"), time.Minute, time.Now())
	forged.Key = name
	if err := raw.Set(forged); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := b.Get(ctx, long); ok || err != nil {
		t.Fatalf("collision served: %q %v %v", v, ok, err)
	}
	if got, err := b.GetMany(ctx, []string{long}); err != nil || got[0] != nil {
		t.Fatalf("collision served by GetMany: %q %v", got, err)
	}
	for _, it := range []*memcache.Item{
		{Key: name, Value: []byte("no key inside"), Flags: 0},
		{Key: name, Value: []byte{0xff, 0xff}, Flags: flagHashed},
		{Key: name, Value: nil, Flags: flagHashed},
	} {
		if err := raw.Set(it); err != nil {
			t.Fatal(err)
		}
		if v, ok, err := b.Get(ctx, long); ok || err != nil {
			t.Fatalf("item %+v served: %q %v %v", it, v, ok, err)
		}
	}
	// A plain key holding an item with the hashed flag is not read as one of ours either.
	if err := raw.Set(&memcache.Item{Key: "mc:plain", Value: []byte("v"), Flags: flagHashed}); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := b.Get(ctx, "mc:plain"); ok || err != nil {
		t.Fatalf("flagged plain item served: %q %v %v", v, ok, err)
	}
}

func TestSetManyLastWriteOfAKeyWins(t *testing.T) {
	b, _ := newBackend(t)
	ctx := context.Background()
	keys := []string{"mc:a", "mc:b", "mc:a", "mc:c", "mc:a"}
	data := [][]byte{[]byte("1"), []byte("2"), []byte("3"), []byte("4"), []byte("5")}
	ttls := []time.Duration{time.Minute, time.Minute, time.Minute, 0, time.Minute}
	if err := b.Set(ctx, "mc:c", []byte("old"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.SetMany(ctx, keys, data, ttls); err != nil {
		t.Fatal(err)
	}
	got, err := b.GetMany(ctx, []string{"mc:a", "mc:b", "mc:c"})
	if err != nil || string(got[0]) != "5" || string(got[1]) != "2" || got[2] != nil {
		t.Fatalf("GetMany = %q %v", got, err)
	}
	if err := b.SetMany(ctx, keys, data[:1], ttls); err == nil {
		t.Fatal("SetMany with mismatched lengths succeeded")
	}
}

// Memcached cannot list its keys: the tier offers no pattern delete, no clear and no tag index,
// and a cache with it says so with tiered.ErrUnsupported.
func TestPatternDeleteIsUnsupported(t *testing.T) {
	b, _ := newBackend(t)
	var be tiered.Backend = b
	if _, ok := be.(tiered.PatternDeleter); ok {
		t.Fatal("the tier claims pattern delete")
	}
	if _, ok := be.(tiered.TagIndexer); ok {
		t.Fatal("the tier claims a tag index")
	}
	if _, ok := be.(tiered.Clearer); ok {
		t.Fatal("the tier claims clear")
	}
	c, err := tiered.New(tiered.Options{Namespace: "mcns:", Tiers: []tiered.Tier{{Backend: b}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.InvalidatePattern(ctx, "user:*"); !errors.Is(err, tiered.ErrUnsupported) {
		t.Fatalf("InvalidatePattern = %v", err)
	}
	if err := c.InvalidateAll(ctx); !errors.Is(err, tiered.ErrUnsupported) {
		t.Fatalf("InvalidateAll = %v", err)
	}
}

// gomemcache takes no context: by default the backend guards every call, so a call on a server
// that stopped answering returns when its context ends, not when the client's Timeout (a minute
// here) does. The wait below is far shorter than that minute: only the guard can release the
// calls in time.
func TestCallsReturnWhenTheirContextEnds(t *testing.T) {
	srv := memcachedtest.Start(t)
	client := srv.Client(t)
	client.Timeout = time.Minute
	b, err := New(client, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Set(context.Background(), "mc:k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := srv.Resume(); err != nil {
			t.Error(err)
		}
	}()
	calls := map[string]func(ctx context.Context) error{
		"Get": func(ctx context.Context) error { _, _, err := b.Get(ctx, "mc:k"); return err },
		"GetMany": func(ctx context.Context) error {
			_, err := b.GetMany(ctx, []string{"mc:k", "mc:j"})
			return err
		},
		"Set": func(ctx context.Context) error { return b.Set(ctx, "mc:k", []byte("w"), time.Minute) },
		"SetMany": func(ctx context.Context) error {
			return b.SetMany(ctx, []string{"mc:k", "mc:j"}, [][]byte{[]byte("1"), []byte("2")}, []time.Duration{time.Minute, time.Minute})
		},
		"Delete": func(ctx context.Context) error { return b.Delete(ctx, "mc:k", "mc:j") },
	}
	for name, call := range calls {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		done := make(chan error, 1)
		go func() { done <- call(ctx) }()
		select {
		case err := <-done:
			if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "memcachedtier: ") {
				t.Errorf("%s on a stopped server = %v; want memcachedtier's context.DeadlineExceeded", name, err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("%s on a stopped server did not return when its context ended", name)
		}
		cancel()
	}
}
