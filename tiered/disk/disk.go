// Package disktier is an embedded disk tier of strata, on Pebble (github.com/cockroachdb/pebble/v2):
// a byte tier that keeps the cache's entries in a local directory, bounded by bytes, with expired
// entries swept in the background, and that is still warm after the process restarts. The folder
// is tiered/disk; the package is named disktier.
//
// Its typical place is between the in-process L1 and a shared Redis, with a longer TTLScale than
// the tiers above it:
//
//	disk, err := disktier.Open("/var/cache/myapp", disktier.Options{MaxBytes: 4 << 30})
//	...
//	cache, err := tiered.New(tiered.Options{Tiers: []tiered.Tier{
//		{Backend: l1},
//		{Backend: disk, TTLScale: 2},
//		{Backend: redisTier},
//	}})
//
// # Bound and eviction
//
// The store counts the bytes of its live entries (keys twice, values, and a fixed overhead per
// entry for their expiry index). It keeps that count under MaxBytes less a reserve for Pebble's
// write-ahead log (four memtables of 1/64 of MaxBytes each, at most 256 MiB in all). When a
// write takes the count past it, a background worker evicts the entries that expire soonest
// (expired ones first, since they expire soonest of all) until the count is 5% of MaxBytes lower.
// Eviction is by expiry, not by recency of use: a read costs no write, and an entry the cache will
// refresh soon anyway goes first. Writes that outrun the worker wait for it once the count passes
// MaxBytes by 10% (a tier Timeout still bounds them). Pebble gives back the space of removed
// entries when it compacts them; once compacted the directory stays within MaxBytes (see
// [Backend.Compact]).
//
// # Expiry
//
// Every entry carries its absolute expiry (wall clock). A read never returns an expired entry; a
// sweep every SweepInterval deletes them. After a restart the entries keep their expiry, so the
// cache sees their remaining TTL, not a new one.
//
// # Tags
//
// The store keeps no tag index (tiered.TagIndexer). InvalidateTags on a cache with this tier
// removes from it the keys the cache's other indexes know (its in-process index, Redis's), and
// returns an error wrapping tiered.ErrUnsupported that names the tier: a tagged entry written
// before a restart, which no index remembers, stays until it expires.
//
// # Crash safety
//
// Each write is one atomic Pebble batch (the entry and its index entry), handed to the kernel in
// Pebble's write-ahead log before the write returns. A process killed at any point leaves a store
// that opens, holds every write acknowledged before the kill, and serves only complete entries.
// Without Options.Sync the log is not fsynced write by write: after a crash of the machine, Open
// empties a store that was not closed (see [Backend.Wiped]), since its last writes, deletions
// included, may be lost and older entries could come back. With Sync every write is fsynced and
// the store is kept.
package disktier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/stratacache/strata/internal/ctxguard"
)

// Defaults applied to zero Options fields.
const (
	// DefaultMaxBytes bounds a store opened with MaxBytes zero: 1 GiB.
	DefaultMaxBytes = 1 << 30
	// MinMaxBytes is the smallest bound accepted: below it Pebble's own fixed files (the write-ahead
	// log of one memtable, the manifest) would be a large part of the directory.
	MinMaxBytes = 4 << 20
	// DefaultSweepInterval is how often expired entries are deleted when SweepInterval is zero.
	DefaultSweepInterval = time.Minute
	// DefaultCacheBytes is the size of Pebble's block cache when CacheBytes is zero.
	DefaultCacheBytes = 32 << 20
)

// Errors returned by the store. Every error of Open wraps ErrInvalidOptions or ErrOpen.
var (
	// ErrInvalidOptions wraps a configuration error of Open.
	ErrInvalidOptions = errors.New("disktier: invalid options")
	// ErrOpen wraps a failure to open the directory as a store.
	ErrOpen = errors.New("disktier: cannot open store")
	// ErrClosed is returned by calls on a closed store.
	ErrClosed = errors.New("disktier: store closed")
)

// Options configures a store. The zero value is usable: a 1 GiB bound, a sweep a minute, writes
// not synced to the device one by one.
type Options struct {
	// MaxBytes bounds the bytes of the live entries (see the package documentation). Zero means
	// DefaultMaxBytes; otherwise it must be at least MinMaxBytes.
	MaxBytes int64
	// SweepInterval is how often expired entries are deleted in the background. Zero means
	// DefaultSweepInterval. Expired entries are never served, swept or not.
	SweepInterval time.Duration
	// Sync makes every write wait until it is on the device (fsync), so that a machine crash
	// loses nothing acknowledged. Off by default: a cache can afford to lose its last writes, and
	// a process crash loses nothing the kernel has received either way.
	Sync bool
	// CacheBytes sizes Pebble's block cache (decompressed blocks kept in memory). Zero means
	// DefaultCacheBytes.
	CacheBytes int64
	// Guarded runs every call of the tier (Get, GetMany, Set, SetMany, Delete, DeletePattern,
	// Clear) on a goroutine of its own and returns as soon as its context is done, whatever the
	// device does; the abandoned call completes later, and Close waits for it. Leave it off on a
	// local disk: writes return when their context is done by themselves (a write held by a Pebble
	// write stall completes later), and reads, pattern deletes and clears check their context
	// and otherwise wait only for the device. Turn it on when the directory is on a network file
	// system that may hang. It costs a goroutine handoff per call.
	Guarded bool
	// Logger receives Pebble's messages and the store's warnings. Nil is silent.
	Logger *slog.Logger
	// Name overrides the backend's name ("disk").
	Name string
}

// Backend is a byte tier on a Pebble store in one directory. It implements tiered.ByteBackend,
// tiered.BatchGetter, tiered.BatchSetter, tiered.PatternDeleter and tiered.Clearer (see
// Options.Guarded for how its calls follow their context). Only one Backend may have a directory
// open at a time (Pebble locks it).
type Backend struct {
	dir     string
	boot    string
	sync    bool
	fsync   atomic.Bool
	wiped   bool
	lock    io.Closer
	db      *pebble.DB
	cache   interface{ Unref() }
	name    string
	guarded bool
	log     *slog.Logger

	max     int64  // the bound
	target  int64  // what the live entries may use: max less the reserve for Pebble's log
	low     int64  // where an eviction pass stops
	hard    int64  // where writes wait for eviction
	mem     uint64 // Pebble's memtable size
	used    atomic.Int64
	entries atomic.Int64
	evicted atomic.Uint64
	expired atomic.Uint64

	stripes [stripeCount]chan struct{} // per-key write locks (channels, so waits follow contexts)

	// life guards the DB against use after Close: every call holds it shared, Close exclusively.
	life   sync.RWMutex
	closed bool

	maint    sync.Mutex    // one maintenance pass (sweep, eviction, compaction) at a time
	kick     chan struct{} // wakes the worker when the bound is passed
	roomMu   sync.Mutex
	room     chan struct{} // closed after each eviction pass, for writes waiting on the bound
	stop     chan struct{}
	workerWG sync.WaitGroup
	sweepDur time.Duration
}

// Open opens (creating it if needed) the store in dir. The directory must hold a store created by
// this package, or nothing. Close the Backend to release the directory.
func Open(dir string, o Options) (*Backend, error) {
	if err := o.validate(dir); err != nil {
		return nil, err
	}
	b := &Backend{
		name:     o.Name,
		guarded:  o.Guarded,
		log:      o.Logger,
		max:      o.MaxBytes,
		sweepDur: o.SweepInterval,
		kick:     make(chan struct{}, 1),
		room:     make(chan struct{}),
		stop:     make(chan struct{}),
	}
	if b.name == "" {
		b.name = "disk"
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.max == 0 {
		b.max = DefaultMaxBytes
	}
	b.mem = memTableSize(b.max)
	b.target = b.max - walReserve*int64(b.mem)
	b.low = b.target - b.max/20
	b.hard = b.max + b.max/10
	if b.sweepDur == 0 {
		b.sweepDur = DefaultSweepInterval
	}
	for i := range b.stripes {
		b.stripes[i] = make(chan struct{}, 1)
	}
	cacheBytes := o.CacheBytes
	if cacheBytes == 0 {
		cacheBytes = DefaultCacheBytes
	}
	b.fsync.Store(o.Sync)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOpen, err)
	}
	b.dir, b.boot, b.sync = dir, bootID(), o.Sync
	lock, err := vfs.Default.Lock(filepath.Join(dir, lockFile))
	if err != nil {
		return nil, fmt.Errorf("%w: %s is in use: %w", ErrOpen, dir, err)
	}
	b.lock = lock
	if err := b.open(cacheBytes); err != nil {
		_ = lock.Close()
		return nil, fmt.Errorf("%w: %s: %w", ErrOpen, dir, err)
	}
	b.workerWG.Add(1)
	go b.worker()
	if b.used.Load() > b.target {
		b.signal()
	}
	return b, nil
}

// open opens Pebble in b.dir, after emptying the directory if the last process left it in a state
// that may have lost writes, and records that the store is open.
func (b *Backend) open(cacheBytes int64) error {
	st, known, err := readState(b.dir)
	if err != nil {
		return err
	}
	if known && st.mayHaveLost(b.boot) {
		b.log.Warn("disktier: the store was not closed and the machine restarted since; its last writes may be lost, so it starts empty", "dir", b.dir)
		if err := wipe(b.dir); err != nil {
			return err
		}
		b.wiped = true
	}
	cache := pebble.NewCache(cacheBytes)
	db, err := pebble.Open(b.dir, b.pebbleOptions(cache))
	if err != nil {
		cache.Unref()
		return err
	}
	b.db, b.cache = db, cache
	err = b.checkLayout()
	if err == nil {
		err = b.count()
	}
	if err == nil {
		err = writeState(b.dir, storeState{boot: b.boot, sync: b.sync})
	}
	if err != nil {
		_ = db.Close()
		cache.Unref()
		return err
	}
	return nil
}

func (o *Options) validate(dir string) error {
	switch {
	case dir == "":
		return fmt.Errorf("%w: empty directory", ErrInvalidOptions)
	case o.MaxBytes < 0:
		return fmt.Errorf("%w: MaxBytes %d is negative", ErrInvalidOptions, o.MaxBytes)
	case o.MaxBytes > 0 && o.MaxBytes < MinMaxBytes:
		return fmt.Errorf("%w: MaxBytes %d is below MinMaxBytes (%d)", ErrInvalidOptions, o.MaxBytes, MinMaxBytes)
	case o.SweepInterval < 0:
		return fmt.Errorf("%w: SweepInterval %v is negative", ErrInvalidOptions, o.SweepInterval)
	case o.CacheBytes < 0:
		return fmt.Errorf("%w: CacheBytes %d is negative", ErrInvalidOptions, o.CacheBytes)
	}
	return nil
}

// Pebble's memtable is 1/64 of MaxBytes (between 64 KiB and 64 MiB). Its write-ahead log files,
// the current one and those kept for reuse, take up to walReserve memtables on disk: the live
// entries are kept under MaxBytes less that reserve, so that the directory stays within MaxBytes.
const walReserve = 4

func memTableSize(maxBytes int64) uint64 {
	return uint64(min(max(maxBytes/64, 64<<10), 64<<20))
}

// pebbleOptions sizes Pebble for the bound.
func (b *Backend) pebbleOptions(cache *pebble.Cache) *pebble.Options {
	o := &pebble.Options{
		Cache:                       cache,
		MemTableSize:                b.mem,
		MemTableStopWritesThreshold: 2,
		FormatMajorVersion:          pebble.FormatNewest,
		Logger:                      pebbleLogger{b.log},
		FS:                          walFS{FS: vfs.Default, fsync: &b.fsync},
	}
	// Bloom filters on every level: a read (and the lookup of the record a write replaces) then
	// touches one table instead of one per level.
	for i := range o.Levels {
		o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	o.EnsureDefaults()
	return o
}

// Name returns the backend's name.
func (b *Backend) Name() string { return b.name }

// HonoursDeadline reports that reads end by their context's deadline without a timer of the
// cache's: they wait only for the device and check their context, or, Guarded, arm their own.
func (b *Backend) HonoursDeadline() bool { return true }

// guard runs fn, on a goroutine of its own that ctx's end releases the caller from when the
// store is Guarded, directly otherwise.
func (b *Backend) guard(ctx context.Context, fn func() error) error {
	_, err := guarded(ctx, b, func() (struct{}, error) { return struct{}{}, fn() })
	return err
}

// guarded is guard for a call with a result.
func guarded[T any](ctx context.Context, b *Backend, fn func() (T, error)) (T, error) {
	if !b.guarded {
		return fn()
	}
	v, err := ctxguard.Call(ctx, fn)
	if err != nil && (err == ctx.Err() || err == context.DeadlineExceeded) {
		err = fmt.Errorf("disktier: %w", err)
	}
	return v, err
}

// enter starts a call; it reports false on a closed store. leave ends it.
func (b *Backend) enter() bool {
	b.life.RLock()
	if b.closed {
		b.life.RUnlock()
		return false
	}
	return true
}

func (b *Backend) leave() { b.life.RUnlock() }

// Close stops the background worker, waits for writes still being applied (those whose caller
// gave up at its deadline), and closes the store, syncing its log. Later calls return ErrClosed.
func (b *Backend) Close() error {
	b.life.Lock()
	if b.closed {
		b.life.Unlock()
		return nil
	}
	b.closed = true
	b.life.Unlock()
	close(b.stop)
	b.workerWG.Wait()
	// Flush the memtables into synced tables, then let the log's last sync be a real one: the
	// store is then on the device and may be marked clean.
	err := b.db.Flush()
	b.fsync.Store(true)
	err = errors.Join(err, b.db.Close())
	b.cache.Unref()
	if err == nil {
		err = writeState(b.dir, storeState{boot: b.boot, sync: b.sync, clean: true})
	}
	err = errors.Join(err, b.lock.Close())
	if err != nil {
		return fmt.Errorf("disktier: close: %w", err)
	}
	return nil
}

// Wiped reports whether Open emptied the store because the last process that had it open did
// not close it and the machine restarted since (see the package documentation).
func (b *Backend) Wiped() bool { return b.wiped }

// Stats is a snapshot of the store's counters.
type Stats struct {
	// Entries is the number of entries stored (expired ones not yet swept included).
	Entries int64
	// LiveBytes is what the entries count against MaxBytes.
	LiveBytes int64
	// MaxBytes is the bound.
	MaxBytes int64
	// Evicted counts entries removed to keep the bound; Expired those removed by the sweep.
	Evicted, Expired uint64
	// DiskBytes is the size of Pebble's files (tables, log, manifest), including space that
	// compactions have not reclaimed yet.
	DiskBytes uint64
}

// Stats returns the store's counters. On a closed store only the counters are filled.
func (b *Backend) Stats() Stats {
	s := Stats{
		Entries:   b.entries.Load(),
		LiveBytes: b.used.Load(),
		MaxBytes:  b.max,
		Evicted:   b.evicted.Load(),
		Expired:   b.expired.Load(),
	}
	if b.enter() {
		s.DiskBytes = b.db.Metrics().DiskSpaceUsage()
		b.leave()
	}
	return s
}

// ctxErr reports a done context as an error of this package's calls.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("disktier: %w", err)
	}
	return nil
}
