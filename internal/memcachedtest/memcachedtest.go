// Package memcachedtest runs real memcached processes for tests: each on a free loopback port,
// under the test's control (stop, kill, pause with SIGSTOP, resume, restart on the same port).
// When STRATA_MEMCACHED_ADDR is set, Shared uses that server instead of starting one.
//
// A missing memcached is a test failure with an install hint, never a skip.
package memcachedtest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"go.uber.org/goleak"

	"github.com/stratacache/strata/internal/proc"
)

// EnvAddr names the environment variable that points the tests at an existing memcached
// (host:port).
const EnvAddr = "STRATA_MEMCACHED_ADDR"

// InstallHint tells a developer how to get memcached.
const InstallHint = "memcached not found in PATH: install it (Debian/Ubuntu: apt-get install -y memcached; macOS: brew install memcached), or set " + EnvAddr + " to a memcached you own"

// Server is a memcached process started by the test, or an external server from
// STRATA_MEMCACHED_ADDR.
type Server struct {
	proc     proc.Process
	addr     string
	port     int
	args     []string
	external bool
}

// Options configures a started server.
type Options struct {
	// MemoryMB is the item memory (-m). Zero means 64.
	MemoryMB int
	// Args are extra memcached arguments, such as "-I", "2m".
	Args []string
}

// New starts a memcached on a free loopback port.
func New(o Options) (*Server, error) {
	bin, err := exec.LookPath("memcached")
	if err != nil {
		return nil, errors.New(InstallHint)
	}
	mem := o.MemoryMB
	if mem == 0 {
		mem = 64
	}
	s := &Server{args: append([]string{"-m", strconv.Itoa(mem)}, o.Args...)}
	err = proc.OnFreePort(func(port int, addr string) error {
		s.port, s.addr = port, addr
		return s.start(bin)
	})
	if err != nil {
		return nil, fmt.Errorf("memcachedtest: could not start memcached: %w", err)
	}
	return s, nil
}

// Start starts a server for one test and stops it when the test ends. It fails the test when
// memcached is missing.
func Start(tb testing.TB, o ...Options) *Server {
	tb.Helper()
	var opts Options
	if len(o) > 0 {
		opts = o[0]
	}
	s, err := New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

var shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Shared returns the test binary's shared server: STRATA_MEMCACHED_ADDR when set, otherwise one
// memcached started on first use and stopped by [Main]. Tests sharing it must use distinct keys.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	shared.once.Do(func() {
		if a := os.Getenv(EnvAddr); a != "" {
			if _, _, err := net.SplitHostPort(a); err != nil {
				shared.err = fmt.Errorf("memcachedtest: %s: %w", EnvAddr, err)
				return
			}
			shared.srv = &Server{addr: a, external: true}
			return
		}
		shared.srv, shared.err = New(Options{})
	})
	if shared.err != nil {
		tb.Fatal(shared.err)
	}
	return shared.srv
}

// Main runs the tests of a package, stops the shared server, and fails the run when goroutines
// are left behind (go.uber.org/goleak). Use it from TestMain:
//
//	func TestMain(m *testing.M) { memcachedtest.Main(m) }
func Main(m *testing.M) {
	code := RunWithoutExit(m)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// RunWithoutExit is Main without os.Exit and without the leak check: it runs the tests, stops
// the shared server and returns the tests' exit code.
func RunWithoutExit(m *testing.M) int {
	code := m.Run()
	StopShared()
	return code
}

// StopShared stops the shared server, if one was started. TestMain functions that run the tests
// themselves call it after m.Run.
func StopShared() {
	if shared.srv != nil {
		shared.srv.Close()
		shared.srv = nil
	}
}

func (s *Server) start(bin string) error {
	args := append([]string{
		"-l", "127.0.0.1",
		"-p", strconv.Itoa(s.port),
		"-U", "0",
		"-t", "2",
	}, s.args...)
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root") // memcached refuses to run as root without -u
	}
	if err := s.proc.Launch(exec.Command(bin, args...), s.ping); err != nil {
		return fmt.Errorf("memcachedtest: port %d: %w", s.port, err)
	}
	return nil
}

func (s *Server) ping() error {
	c := memcache.New(s.addr)
	c.Timeout = 200 * time.Millisecond
	defer c.Close()
	return c.Ping()
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Port is the server's port.
func (s *Server) Port() int { return s.port }

// External reports whether the server comes from STRATA_MEMCACHED_ADDR (and so cannot be
// stopped, paused or restarted).
func (s *Server) External() bool { return s.external }

// Client returns a client with a one-second socket timeout and a pool of 16 idle connections,
// closed when the test ends.
func (s *Server) Client(tb testing.TB) *memcache.Client {
	tb.Helper()
	c := memcache.New(s.addr)
	c.Timeout = time.Second
	c.MaxIdleConns = 16
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

func (s *Server) needOwn(what string) error {
	if s.external {
		return fmt.Errorf("memcachedtest: cannot %s a server from %s", what, EnvAddr)
	}
	return nil
}

// Pause freezes the server with SIGSTOP, and returns once every thread of it has stopped:
// connections stay open and nothing answers.
func (s *Server) Pause() error {
	if err := s.needOwn("pause"); err != nil {
		return err
	}
	return s.proc.Pause()
}

// Resume undoes Pause with SIGCONT.
func (s *Server) Resume() error {
	if err := s.needOwn("resume"); err != nil {
		return err
	}
	return s.proc.Resume()
}

// Kill ends the server with SIGKILL and waits for it to exit.
func (s *Server) Kill() error {
	if err := s.needOwn("kill"); err != nil {
		return err
	}
	s.proc.Kill()
	return nil
}

// Stop ends the server with SIGTERM, as an orderly shutdown would, and waits for it to exit.
func (s *Server) Stop() error {
	if err := s.needOwn("stop"); err != nil {
		return err
	}
	s.proc.Terminate(10 * time.Second)
	return nil
}

// Restart starts the server again on the same port, empty, after Kill or Stop (it kills a
// running one first).
func (s *Server) Restart() error {
	if err := s.needOwn("restart"); err != nil {
		return err
	}
	_ = s.Kill()
	bin, err := exec.LookPath("memcached")
	if err != nil {
		return errors.New(InstallHint)
	}
	return proc.Relaunch(func() error { return s.start(bin) })
}

// Close kills the server. Closing an external server does nothing.
func (s *Server) Close() {
	if s.external {
		return
	}
	_ = s.Kill()
}
