package memcachedtest

import (
	"errors"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

func TestMain(m *testing.M) { Main(m) }

func TestMissingBinaryFailsWithTheInstallHint(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	s, err := New(Options{})
	if err == nil {
		s.Close()
		t.Fatal("New succeeded without memcached in PATH")
	}
	if err.Error() != InstallHint {
		t.Fatalf("error %q, want the install hint", err)
	}
}

func TestPauseKillRestart(t *testing.T) {
	s := Start(t)
	c := s.Client(t)
	c.Timeout = 200 * time.Millisecond
	if err := c.Set(&memcache.Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get("k"); err == nil {
		t.Fatal("a paused server answered")
	}
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	if it, err := c.Get("k"); err != nil || string(it.Value) != "v" {
		t.Fatalf("after Resume: %v %v", it, err)
	}
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get("k"); err == nil {
		t.Fatal("a killed server answered")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get("k"); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("a restarted server should be empty: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Pause(); err == nil {
		t.Fatal("Pause of a stopped server succeeded")
	}
}

func TestSharedServerServes(t *testing.T) {
	s := Shared(t)
	if s != Shared(t) {
		t.Fatal("Shared returned two servers")
	}
	if err := s.Client(t).Ping(); err != nil {
		t.Fatal(err)
	}
}
