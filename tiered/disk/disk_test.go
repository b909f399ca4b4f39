package disktier_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/stratacache/strata/internal/redistest"
	"github.com/stratacache/strata/tiered"
	disktier "github.com/stratacache/strata/tiered/disk"
	ottertier "github.com/stratacache/strata/tiered/otter"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	redistest.Main(m)
}

// open opens a store in a new temporary directory and closes it when the test ends.
func open(t testing.TB, o disktier.Options) (*disktier.Backend, string) {
	t.Helper()
	dir := t.TempDir()
	b, err := disktier.Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b, dir
}

func reopen(t testing.TB, dir string, o disktier.Options) *disktier.Backend {
	t.Helper()
	b, err := disktier.Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// checkCounts compares the store's counters with a walk of its records.
func checkCounts(t *testing.T, b *disktier.Backend) {
	t.Helper()
	used, n, s, err := b.Recount()
	if err != nil {
		t.Fatal(err)
	}
	if s.LiveBytes != used || s.Entries != n {
		t.Fatalf("counters say %d entries / %d bytes, the records %d / %d", s.Entries, s.LiveBytes, n, used)
	}
}

func TestOpenValidatesOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		dir  string
		o    disktier.Options
	}{
		{"empty dir", "", disktier.Options{}},
		{"negative MaxBytes", t.TempDir(), disktier.Options{MaxBytes: -1}},
		{"tiny MaxBytes", t.TempDir(), disktier.Options{MaxBytes: disktier.MinMaxBytes - 1}},
		{"negative SweepInterval", t.TempDir(), disktier.Options{SweepInterval: -time.Second}},
		{"negative CacheBytes", t.TempDir(), disktier.Options{CacheBytes: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := disktier.Open(tc.dir, tc.o)
			if !errors.Is(err, disktier.ErrInvalidOptions) {
				t.Fatalf("Open = %v, %v; want ErrInvalidOptions", b, err)
			}
		})
	}
}

func TestOpenRefusesADirectoryInUse(t *testing.T) {
	_, dir := open(t, disktier.Options{})
	if b, err := disktier.Open(dir, disktier.Options{}); !errors.Is(err, disktier.ErrOpen) {
		if b != nil {
			_ = b.Close()
		}
		t.Fatalf("second Open = %v; want ErrOpen", err)
	}
}

func TestOpenRefusesAForeignStore(t *testing.T) {
	dir := t.TempDir()
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte("someone else's"), []byte("data"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := disktier.Open(dir, disktier.Options{}); !errors.Is(err, disktier.ErrOpen) {
		if b != nil {
			_ = b.Close()
		}
		t.Fatalf("Open = %v; want ErrOpen", err)
	}
}

type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(f string, a ...any) {
	panic(fmt.Sprintf(f, a...))
}

func TestClosedStoreReturnsErrClosed(t *testing.T) {
	b, _ := open(t, disktier.Options{})
	ctx := context.Background()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if _, _, err := b.Get(ctx, "k"); !errors.Is(err, disktier.ErrClosed) {
		t.Errorf("Get = %v", err)
	}
	if err := b.Set(ctx, "k", []byte("v"), time.Minute); !errors.Is(err, disktier.ErrClosed) {
		t.Errorf("Set = %v", err)
	}
	if err := b.Delete(ctx, "k"); !errors.Is(err, disktier.ErrClosed) {
		t.Errorf("Delete = %v", err)
	}
	if _, err := b.DeletePattern(ctx, "*"); !errors.Is(err, disktier.ErrClosed) {
		t.Errorf("DeletePattern = %v", err)
	}
	if err := b.Clear(ctx); !errors.Is(err, disktier.ErrClosed) {
		t.Errorf("Clear = %v", err)
	}
	if err := b.Compact(ctx); !errors.Is(err, disktier.ErrClosed) {
		t.Errorf("Compact = %v", err)
	}
}

// An entry past its expiry is never served, whether or not the sweep has removed it yet.
func TestExpiredEntryIsNeverServed(t *testing.T) {
	b, _ := open(t, disktier.Options{SweepInterval: time.Hour})
	ctx := context.Background()
	if err := b.Set(ctx, "short", []byte("v"), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(ctx, "long", []byte("w"), time.Hour); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if v, ok, err := b.Get(ctx, "short"); ok || err != nil {
		t.Fatalf("expired entry served: %q %v %v", v, ok, err)
	}
	got, err := b.GetMany(ctx, []string{"short", "long"})
	if err != nil || got[0] != nil || string(got[1]) != "w" {
		t.Fatalf("GetMany = %q, %v", got, err)
	}
	if s := b.Stats(); s.Entries != 2 || s.Expired != 0 {
		t.Fatalf("before the sweep: %+v", s)
	}
	if err := b.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if s := b.Stats(); s.Entries != 1 || s.Expired != 1 {
		t.Fatalf("after the sweep: %+v", s)
	}
	checkCounts(t, b)
}

func TestExpiredEntriesAreSweptInTheBackground(t *testing.T) {
	b, _ := open(t, disktier.Options{SweepInterval: 10 * time.Millisecond})
	ctx := context.Background()
	const n = 600 // more than one chunk of the sweep
	for i := range n {
		if err := b.Set(ctx, "k"+strconv.Itoa(i), []byte("v"), time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Set(ctx, "kept", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for b.Stats().Expired < n {
		if time.Now().After(deadline) {
			t.Fatalf("not swept: %+v", b.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if s := b.Stats(); s.Entries != 1 {
		t.Fatalf("after the sweep: %+v", s)
	}
	checkCounts(t, b)
}

func TestSetReplacesAndDeleteRemovesWithTheirIndexEntries(t *testing.T) {
	b, _ := open(t, disktier.Options{})
	ctx := context.Background()
	for i := range 3 {
		if err := b.Set(ctx, "k", bytes.Repeat([]byte{'a'}, 100*(i+1)), time.Duration(i+1)*time.Hour); err != nil {
			t.Fatal(err)
		}
		checkCounts(t, b)
	}
	if s := b.Stats(); s.Entries != 1 {
		t.Fatalf("%+v", s)
	}
	if err := b.SetMany(ctx, []string{"a", "b", "a"}, [][]byte{[]byte("1"), []byte("2"), []byte("3")},
		[]time.Duration{time.Hour, time.Hour, time.Minute}); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := b.Get(ctx, "a"); string(v) != "3" {
		t.Fatalf("a key twice in SetMany: %q, want the last", v)
	}
	checkCounts(t, b)
	if err := b.Set(ctx, "b", []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := b.Get(ctx, "b"); ok {
		t.Fatal("Set with a zero ttl kept the key")
	}
	if err := b.Delete(ctx, "k", "a", "missing"); err != nil {
		t.Fatal(err)
	}
	if s := b.Stats(); s.Entries != 0 || s.LiveBytes != 0 {
		t.Fatalf("after deleting everything: %+v", s)
	}
	checkCounts(t, b)
}

func TestTooLargeEntryIsRefused(t *testing.T) {
	b, _ := open(t, disktier.Options{MaxBytes: disktier.MinMaxBytes})
	err := b.Set(context.Background(), "big", make([]byte, disktier.MinMaxBytes/16), time.Hour)
	if !errors.Is(err, disktier.ErrTooLarge) {
		t.Fatalf("Set = %v", err)
	}
	if s := b.Stats(); s.Entries != 0 {
		t.Fatalf("%+v", s)
	}
}

func TestDeletePattern(t *testing.T) {
	b, _ := open(t, disktier.Options{})
	ctx := context.Background()
	keys := []string{"app:user:1", "app:user:2", "app:user:10", "app:order:1", "app:u*er", "other:user:1", "app:user:", "ap"}
	for _, k := range keys {
		if err := b.Set(ctx, k, []byte(k), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		pattern string
		removed []string
	}{
		{"app:user:?", []string{"app:user:1", "app:user:2"}},
		{`app:u\*er`, []string{"app:u*er"}},
		{"app:[a-t]*", []string{"app:order:1"}},
		{"*user*", []string{"app:user:10", "other:user:1", "app:user:"}},
		{"nothing*", nil},
		{"*", []string{"ap"}},
	} {
		n, err := b.DeletePattern(ctx, tc.pattern)
		if err != nil || n != len(tc.removed) {
			t.Fatalf("DeletePattern(%q) = %d, %v; want %d", tc.pattern, n, err, len(tc.removed))
		}
		for _, k := range tc.removed {
			if _, ok, _ := b.Get(ctx, k); ok {
				t.Fatalf("DeletePattern(%q) left %q", tc.pattern, k)
			}
		}
		checkCounts(t, b)
	}
}

func TestClear(t *testing.T) {
	b, _ := open(t, disktier.Options{})
	ctx := context.Background()
	for i := range 100 {
		if err := b.Set(ctx, "k"+strconv.Itoa(i), []byte("v"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if s := b.Stats(); s.Entries != 0 || s.LiveBytes != 0 {
		t.Fatalf("%+v", s)
	}
	if _, ok, _ := b.Get(ctx, "k1"); ok {
		t.Fatal("Clear left k1")
	}
	checkCounts(t, b)
}

// Writing three times the bound leaves the store within it, evicting the entries that expire
// soonest, and a compaction brings the directory within 10% of MaxBytes.
func TestBoundHoldsAndEvictsSoonestExpiring(t *testing.T) {
	const max = 8 << 20
	b, dir := open(t, disktier.Options{MaxBytes: max})
	ctx := context.Background()
	value := make([]byte, 16<<10)
	n := 3 * max / len(value)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		fillRandom(rng, value)
		// Later keys expire later: eviction must remove a prefix of the keys.
		if err := b.Set(ctx, key(i), value, time.Hour+time.Duration(i)*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	s := b.Stats()
	if s.LiveBytes > max || s.Evicted == 0 {
		t.Fatalf("after writing 3× the bound: %+v", s)
	}
	checkCounts(t, b)
	first := -1
	for i := range n {
		_, ok, err := b.Get(ctx, key(i))
		if err != nil {
			t.Fatal(err)
		}
		if ok && first < 0 {
			first = i
		}
		if !ok && first >= 0 {
			t.Fatalf("key %d evicted but key %d, which expires sooner, kept", i, first)
		}
	}
	if first <= 0 {
		t.Fatalf("first key kept: %d", first)
	}
	size := dirSize(t, dir)
	if testing.Verbose() {
		listDir(t, dir)
	}
	t.Logf("wrote %d MiB under a %d MiB bound: %d entries kept (%d evicted), live %d bytes, directory %d bytes (%.3f× MaxBytes), Pebble reports %d",
		n*len(value)>>20, max>>20, s.Entries, s.Evicted, s.LiveBytes, size, float64(size)/max, s.DiskBytes)
	if size > max+max/10 {
		t.Fatalf("directory holds %d bytes after compaction, more than MaxBytes + 10%%", size)
	}
}

func listDir(t *testing.T, dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		fi, _ := e.Info()
		t.Logf("  %-24s %10d", e.Name(), fi.Size())
	}
}

func key(i int) string { return fmt.Sprintf("key:%08d", i) }

func fillRandom(rng *rand.Rand, b []byte) {
	for i := 0; i+8 <= len(b); i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
}

func dirSize(t testing.TB, dir string) int64 {
	t.Helper()
	var total int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			total += fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}

// Concurrent writers, deleters, pattern deletes and evictions leave the counters equal to what
// the records hold.
func TestCountersStayExactUnderConcurrency(t *testing.T) {
	o := disktier.Options{MaxBytes: disktier.MinMaxBytes, SweepInterval: time.Millisecond}
	b, dir := open(t, o)
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			value := make([]byte, 8<<10)
			for range 500 {
				k := key(rng.IntN(3000))
				var err error
				switch r := rng.IntN(20); {
				case r == 0:
					_, err = b.DeletePattern(ctx, "key:0000001?")
				case r < 3:
					err = b.Delete(ctx, k, key(rng.IntN(3000)))
				case r < 5:
					err = b.SetMany(ctx, []string{k, key(rng.IntN(3000))}, [][]byte{value, value[:10]},
						[]time.Duration{time.Hour, time.Millisecond})
				case r < 8:
					err = b.Set(ctx, k, value[:rng.IntN(len(value))], time.Duration(1+rng.IntN(5))*time.Millisecond)
				default:
					err = b.Set(ctx, k, value[:len(value)/2+rng.IntN(len(value)/2)], time.Hour+time.Duration(rng.IntN(1000))*time.Second)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := b.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	checkCounts(t, b)
	s := b.Stats()
	t.Logf("after the run: %+v", s)
	if s.Evicted == 0 || s.Expired == 0 {
		t.Fatalf("the maintenance passes did not run alongside: %+v", s)
	}
	// The counters a reopened store computes from its index agree too.
	want := b.Stats()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2 := reopen(t, dir, disktier.Options{MaxBytes: o.MaxBytes, SweepInterval: time.Hour})
	if s := b2.Stats(); s.Entries != want.Entries || s.LiveBytes != want.LiveBytes {
		t.Fatalf("reopened: %+v, before: %+v", s, want)
	}
	checkCounts(t, b2)
}

// A write stuck inside the store (a stall, forced here) releases its caller when its context is
// done, and completes afterwards; Close waits for it.
func TestWriteHonoursItsContext(t *testing.T) {
	b, _ := open(t, disktier.Options{})
	release := make(chan struct{})
	restore := disktier.SetCommitHook(func() { <-release })
	defer restore()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := b.Set(ctx, "k", []byte("v"), time.Hour)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Set under a stall = %v", err)
	}
	restore()
	close(release)
	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}

// A store closed and opened again serves what it held, with the same expiry: through a cache,
// the remaining TTL, not a new one.
func TestRestartKeepsEntriesAndTheirExpiry(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := disktier.Open(dir, disktier.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := tiered.New(tiered.Options{Namespace: "t:", Tiers: []tiered.Tier{{Backend: b}}})
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().UnixNano()
	if err := c.Set(ctx, "user", "Ada", tiered.Custom(time.Hour)); err != nil {
		t.Fatal(err)
	}
	after := time.Now().UnixNano()
	if err := b.Set(ctx, "raw", []byte("bytes"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b2 := reopen(t, dir, disktier.Options{})
	if b2.Wiped() {
		t.Fatal("a cleanly closed store was emptied")
	}
	if v, ok, err := b2.Get(ctx, "raw"); !ok || err != nil || string(v) != "bytes" {
		t.Fatalf("raw entry after restart: %q %v %v", v, ok, err)
	}
	// Read through an L1, which the hit is promoted into with the entry's remaining lifetime.
	l1, err := ottertier.New(ottertier.Options{MaxEntries: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer l1.Close()
	c2, err := tiered.New(tiered.Options{Namespace: "t:", Tiers: []tiered.Tier{{Backend: l1}, {Backend: b2}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	// Let time pass, so that a hit promoted with a new TTL would show (beyond the slack below).
	time.Sleep(200 * time.Millisecond)
	read := time.Now().UnixNano()
	got, err := tiered.GetMany[string](ctx, c2, []string{"user"})
	if err != nil || !got[0].Found || got[0].Value != "Ada" || got[0].Tier != 1 {
		t.Fatalf("after restart: %+v %v", got, err)
	}
	left, ok := l1.ExpiresAfter("user")
	now := time.Now().UnixNano()
	if !ok {
		t.Fatal("the disk hit was not promoted to L1")
	}
	// The entry expires at its original time, in [before, after] + 1h: seen from the read, in
	// [before+1h-now, after+1h-read], not an hour from the read. The slack covers otter's clock
	// (the wall clock at its start plus the monotonic clock since), which drifts by milliseconds.
	const slack = int64(50 * time.Millisecond)
	if lo, hi := before+int64(time.Hour)-now-slack, after+int64(time.Hour)-read+slack; int64(left) < lo || int64(left) > hi {
		t.Fatalf("after restart the entry has %v left, want its original expiry: between %v and %v", left, time.Duration(lo), time.Duration(hi))
	}
	checkCounts(t, b2)
}

func TestDefaultsAreApplied(t *testing.T) {
	b, _ := open(t, disktier.Options{})
	if s := b.Stats(); s.MaxBytes != disktier.DefaultMaxBytes {
		t.Fatalf("%+v", s)
	}
	if b.Name() != "disk" {
		t.Fatalf("name %q", b.Name())
	}
	g, _ := open(t, disktier.Options{Guarded: true, Name: "ssd"})
	if g.Name() != "ssd" {
		t.Fatalf("name %q", g.Name())
	}
}

// A Guarded store returns from every call once its context is done, even when the device stops
// answering (reads and commits held by hooks here). Unguarded, the reads would wait for the hook:
// the wait below is far longer than the deadline, so only the guard releases them in time.
func TestGuardedCallsReturnWhenTheirContextEnds(t *testing.T) {
	ctx := context.Background()
	g, _ := open(t, disktier.Options{Guarded: true})
	if err := g.Set(ctx, "k", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	restoreRead := disktier.SetReadHook(func() { <-release })
	restoreCommit := disktier.SetCommitHook(func() { <-release })
	defer func() {
		restoreRead()
		restoreCommit()
		close(release)
	}()
	calls := map[string]func(ctx context.Context) error{
		"Get":     func(ctx context.Context) error { _, _, err := g.Get(ctx, "k"); return err },
		"GetMany": func(ctx context.Context) error { _, err := g.GetMany(ctx, []string{"k", "j"}); return err },
		"Set":     func(ctx context.Context) error { return g.Set(ctx, "k", []byte("w"), time.Hour) },
		"SetMany": func(ctx context.Context) error {
			return g.SetMany(ctx, []string{"k", "j"}, [][]byte{[]byte("1"), []byte("2")}, []time.Duration{time.Hour, time.Hour})
		},
		"Delete": func(ctx context.Context) error { return g.Delete(ctx, "k") },
	}
	for name, call := range calls {
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		done := make(chan error, 1)
		go func() { done <- call(cctx) }()
		select {
		case err := <-done:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s on a stalled store = %v; want context.DeadlineExceeded", name, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s on a stalled store did not return when its context ended", name)
		}
		cancel()
	}
}
