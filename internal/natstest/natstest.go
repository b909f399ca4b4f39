// Package natstest runs real nats-server processes for tests: each on a free loopback port,
// without JetStream, under the test's control (stop, kill, pause with SIGSTOP, resume, restart on
// the same port). The servers run in process groups of their own and die with the test binary
// that started them.
//
// A missing nats-server is a test failure with an install hint, never a skip.
package natstest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stratacache/strata/internal/proc"
)

// InstallHint tells a developer how to get nats-server.
const InstallHint = "nats-server not found in PATH nor in /usr/sbin: install it (Debian/Ubuntu: apt-get install -y nats-server; macOS: brew install nats-server), or run scripts/install-deps"

// fallbackDirs are searched for nats-server when it is not in PATH: Debian installs it in
// /usr/sbin, which an unprivileged user's PATH often lacks.
var fallbackDirs = []string{"/usr/sbin", "/usr/local/sbin"}

// binary finds nats-server.
func binary() (string, error) {
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p, nil
	}
	for _, d := range fallbackDirs {
		p := filepath.Join(d, "nats-server")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New(InstallHint)
}

// Options configures a started server.
type Options struct {
	// Args are extra nats-server arguments, such as "--max_payload", "4096".
	Args []string
}

// Server is a nats-server process started by the test.
type Server struct {
	proc proc.Process
	bin  string
	addr string
	port int
	args []string
}

// New starts a nats-server on a free loopback port.
func New(o Options) (*Server, error) {
	bin, err := binary()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, args: o.Args}
	err = proc.OnFreePort(func(port int, addr string) error {
		s.port, s.addr = port, addr
		return s.start()
	})
	if err != nil {
		return nil, fmt.Errorf("natstest: could not start nats-server: %w", err)
	}
	return s, nil
}

// Start starts a server for one test and stops it when the test ends. It fails the test when
// nats-server is missing.
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

func (s *Server) start() error {
	args := append([]string{"--addr", "127.0.0.1", "--port", strconv.Itoa(s.port)}, s.args...)
	if err := s.proc.Launch(exec.Command(s.bin, args...), s.ready); err != nil {
		return fmt.Errorf("natstest: port %d: %w", s.port, err)
	}
	return nil
}

// ready reports whether the server greets a new client with its INFO line.
func (s *Server) ready() error {
	c, err := net.DialTimeout("tcp", s.addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "INFO ") {
		return fmt.Errorf("natstest: unexpected greeting %q", line)
	}
	return nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Port is the server's port.
func (s *Server) Port() int { return s.port }

// URL is a nats:// URL for the server.
func (s *Server) URL() string { return "nats://" + s.addr }

// Conn connects to the server and closes the connection when the test ends. The connection
// reconnects forever, every 20 ms, and is created even while the server is down
// (RetryOnFailedConnect); opts come after these and may override them.
func (s *Server) Conn(tb testing.TB, opts ...nats.Option) *nats.Conn {
	tb.Helper()
	all := append([]nats.Option{
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(20 * time.Millisecond),
		nats.ReconnectJitter(0, 0),
		nats.Timeout(time.Second),
	}, opts...)
	nc, err := nats.Connect(s.URL(), all...)
	if err != nil {
		tb.Fatalf("natstest: connecting to %s: %v", s.addr, err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

// Pid is the process id of the running server, 0 when it is not running.
func (s *Server) Pid() int { return s.proc.Pid() }

// Pause freezes the server with SIGSTOP: connections stay open and nothing answers. It returns
// once the process is stopped.
func (s *Server) Pause() error { return s.proc.Pause() }

// Resume undoes Pause with SIGCONT.
func (s *Server) Resume() error { return s.proc.Resume() }

// Kill ends the server with SIGKILL (its clients see their connections reset) and waits for it
// to exit. Killing a stopped server does nothing.
func (s *Server) Kill() error {
	s.proc.Kill()
	return nil
}

// Restart kills the server if it runs and starts it again on the same port.
func (s *Server) Restart() error {
	s.proc.Kill()
	if err := proc.Relaunch(s.start); err != nil {
		return fmt.Errorf("natstest: restarting nats-server on port %d: %w", s.port, err)
	}
	return nil
}

// Close kills the server.
func (s *Server) Close() { _ = s.Kill() }
