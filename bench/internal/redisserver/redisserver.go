// Package redisserver gives the benchmarks a real Redis: the server STRATA_REDIS_URL names, or a
// redis-server started on a free loopback port, without persistence, and stopped by Close.
//
// A missing redis-server is an error with an install hint, never a silent skip.
package redisserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnvURL names the environment variable that points the benchmarks at an existing Redis.
const EnvURL = "STRATA_REDIS_URL"

// InstallHint tells how to get redis-server.
const InstallHint = "redis-server not found in PATH: install it (Debian/Ubuntu: apt-get install -y redis-server; macOS: brew install redis), or set " + EnvURL + " to a Redis you own"

// Server is a Redis for the benchmarks.
type Server struct {
	opts   *redis.Options
	cmd    *exec.Cmd
	exited <-chan struct{}
	dir    string
}

// Start returns the server of STRATA_REDIS_URL when it is set, and otherwise starts a
// redis-server on a free loopback port.
func Start() (*Server, error) {
	if u := os.Getenv(EnvURL); u != "" {
		o, err := redis.ParseURL(u)
		if err != nil {
			return nil, fmt.Errorf("redisserver: %s: %w", EnvURL, err)
		}
		return &Server{opts: o}, nil
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New(InstallHint)
	}
	dir, err := os.MkdirTemp("", "strata-bench-redis-")
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range 5 { // a free port may be taken between the probe and the start
		port, err := freePort()
		if err != nil {
			lastErr = err
			continue
		}
		s := &Server{opts: &redis.Options{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}, dir: dir}
		if lastErr = s.start(bin, port); lastErr == nil {
			return s, nil
		}
	}
	_ = os.RemoveAll(dir)
	return nil, fmt.Errorf("redisserver: could not start redis-server: %w", lastErr)
}

// Options returns a copy of the client options of the server.
func (s *Server) Options() *redis.Options {
	o := *s.opts
	return &o
}

// Close stops a server that Start started; a server from STRATA_REDIS_URL is left alone.
func (s *Server) Close() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
	_ = os.RemoveAll(s.dir)
}

func (s *Server) start(bin string, port int) error {
	cmd := exec.Command(bin,
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--daemonize", "no",
		"--protected-mode", "no",
		"--loglevel", "warning",
	)
	cmd.Dir = s.dir
	exited, err := startProcess(cmd)
	if err != nil {
		return err
	}
	s.cmd, s.exited = cmd, exited
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			s.cmd = nil
			return fmt.Errorf("redis-server exited at start (port %d taken?)", port)
		default:
		}
		if s.ping() == nil {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	<-exited
	s.cmd = nil
	return errors.New("redis-server did not answer PING within 10s")
}

func (s *Server) ping() error {
	o := s.Options()
	o.DialTimeout, o.MaxRetries = 200*time.Millisecond, -1
	c := redis.NewClient(o)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return c.Ping(ctx).Err()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
