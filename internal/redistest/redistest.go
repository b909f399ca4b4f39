// Package redistest runs real redis-server processes for tests: each on a free loopback port, with
// no persistence, under the test's control (stop, kill, pause with SIGSTOP, resume, restart on the
// same port). When STRATA_REDIS_URL is set, Shared uses that server instead of starting one.
//
// A missing redis-server is a test failure with an install hint, never a skip.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/stratacache/strata/internal/proc"
)

// EnvURL names the environment variable that points the tests at an existing Redis.
const EnvURL = "STRATA_REDIS_URL"

// InstallHint tells a developer how to get redis-server.
const InstallHint = "redis-server not found in PATH: install it (Debian/Ubuntu: apt-get install -y redis-server; macOS: brew install redis), or set " + EnvURL + " to a Redis you own"

// Server is a redis-server process started by the test, or an external server from STRATA_REDIS_URL.
type Server struct {
	proc     proc.Process
	addr     string
	port     int
	args     []string
	dir      string
	external string
}

// Options configures a started server.
type Options struct {
	// Args are extra redis-server arguments, such as "--cluster-enabled", "yes".
	Args []string
}

// New starts a redis-server on a free loopback port.
func New(o Options) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New(InstallHint)
	}
	dir, err := os.MkdirTemp("", "strata-redis-")
	if err != nil {
		return nil, err
	}
	s := &Server{args: o.Args, dir: dir}
	err = proc.OnFreePort(func(port int, addr string) error {
		s.port, s.addr = port, addr
		return s.start(bin)
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("redistest: could not start redis-server: %w", err)
	}
	return s, nil
}

// Start starts a server for one test and stops it when the test ends. It fails the test when
// redis-server is missing.
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

// Shared returns the test binary's shared server: STRATA_REDIS_URL when set, otherwise one
// redis-server started on first use and stopped by [Main]. Tests sharing it must use distinct keys
// (a namespace per test).
func Shared(tb testing.TB) *Server {
	tb.Helper()
	shared.once.Do(func() {
		if u := os.Getenv(EnvURL); u != "" {
			opt, err := redis.ParseURL(u)
			if err != nil {
				shared.err = fmt.Errorf("redistest: %s: %w", EnvURL, err)
				return
			}
			shared.srv = &Server{addr: opt.Addr, external: u}
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
//	func TestMain(m *testing.M) { redistest.Main(m) }
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

// RunWithoutExit is Main without os.Exit, for TestMain functions that run more checks (goleak)
// after the tests: it returns the tests' exit code.
func RunWithoutExit(m *testing.M) int {
	code := m.Run()
	if shared.srv != nil {
		shared.srv.Close()
		shared.srv = nil
	}
	return code
}

func (s *Server) start(bin string) error {
	args := append([]string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--daemonize", "no",
		"--protected-mode", "no",
		"--loglevel", "warning",
	}, s.args...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = s.dir
	if err := s.proc.Launch(cmd, s.ping); err != nil {
		return fmt.Errorf("redistest: port %d: %w", s.port, err)
	}
	return nil
}

func (s *Server) ping() error {
	c := redis.NewClient(&redis.Options{Addr: s.addr, DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return c.Ping(ctx).Err()
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Port is the server's port.
func (s *Server) Port() int { return s.port }

// URL is a redis:// URL for the server.
func (s *Server) URL() string {
	if s.external != "" {
		return s.external
	}
	return "redis://" + s.addr + "/0"
}

// External reports whether the server comes from STRATA_REDIS_URL (and so cannot be stopped,
// paused or restarted).
func (s *Server) External() bool { return s.external != "" }

// Client returns a client for database db (0 when omitted) with ContextTimeoutEnabled and short
// timeouts, closed when the test ends.
func (s *Server) Client(tb testing.TB, db ...int) *redis.Client {
	tb.Helper()
	opt := &redis.Options{Addr: s.addr, ContextTimeoutEnabled: true, DialTimeout: time.Second}
	if s.external != "" {
		o, err := redis.ParseURL(s.external)
		if err != nil {
			tb.Fatal(err)
		}
		opt = o
		opt.ContextTimeoutEnabled = true
	}
	if len(db) > 0 {
		opt.DB = db[0]
	}
	c := redis.NewClient(opt)
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

func (s *Server) needOwn(what string) error {
	if s.external != "" {
		return fmt.Errorf("redistest: cannot %s a server from %s", what, EnvURL)
	}
	return nil
}

// Pause freezes the server with SIGSTOP: connections stay open and nothing answers. It returns
// once every thread of the server has stopped (the kernel stops them one by one, and until then
// the server may still answer).
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

// Restart starts the server again on the same port, empty, after Kill.
func (s *Server) Restart() error {
	if err := s.needOwn("restart"); err != nil {
		return err
	}
	_ = s.Kill()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return errors.New(InstallHint)
	}
	return proc.Relaunch(func() error { return s.start(bin) })
}

// Close kills the server and removes its directory. Closing an external server does nothing.
func (s *Server) Close() {
	if s.external != "" {
		return
	}
	_ = s.Kill()
	_ = os.RemoveAll(s.dir)
}

// Faults puts s through the fault schedule of the adapters' fault tests while their load runs:
// 300 ms warm, 1.5 s frozen (SIGSTOP), 500 ms resumed, 1 s killed, 500 ms after a restart on the
// same port. count reports how many operations the load has done so far; each phase logs its
// share.
func Faults(tb testing.TB, s *Server, count func() int64) {
	tb.Helper()
	phase := func(name string, d time.Duration, fault func() error) {
		tb.Helper()
		if fault != nil {
			if err := fault(); err != nil {
				tb.Fatal(err)
			}
		}
		before := count()
		time.Sleep(d) // keep the load running through this phase
		tb.Logf("%s: %d operations", name, count()-before)
	}
	phase("warm", 300*time.Millisecond, nil)
	phase("Redis frozen", 1500*time.Millisecond, s.Pause)
	phase("Redis resumed", 500*time.Millisecond, s.Resume)
	phase("Redis killed", time.Second, s.Kill)
	phase("Redis restarted", 500*time.Millisecond, s.Restart)
}
