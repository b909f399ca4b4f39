package proc

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ErrNotRunning is returned when a Process is signalled while it does not run.
var ErrNotRunning = errors.New("proc: server not running")

// Process is one server process under a test's control: launched, paused, resumed, killed and
// launched again. The zero value holds no process; its methods are safe for concurrent use.
type Process struct {
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited <-chan struct{}
}

// Launch starts cmd with [Start] and polls ready every 10 ms until it returns nil. It fails when
// the process exits first (its port was taken, say) or is not ready within 10 s, killing it then.
func (p *Process) Launch(cmd *exec.Cmd, ready func() error) error {
	exited, err := Start(cmd)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
	name := cmd.Path
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			p.take()
			return fmt.Errorf("%s exited at start", name)
		default:
		}
		if ready() == nil {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.Kill()
	return fmt.Errorf("%s did not answer within 10s", name)
}

// Relaunch calls launch until it succeeds, up to 50 times 100 ms apart: a restarted server may
// find its port still held for a moment.
func Relaunch(launch func() error) error {
	var err error
	for range 50 {
		if err = launch(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// Pid returns the process id, 0 when no process runs.
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Signal sends sig to the process.
func (p *Process) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return ErrNotRunning
	}
	return p.cmd.Process.Signal(sig)
}

// Pause freezes the process with SIGSTOP: connections stay open and nothing answers. It returns
// once every thread of it has stopped (the kernel stops them one by one, and until then the
// server may still answer).
func (p *Process) Pause() error {
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	WaitStopped(p.Pid())
	return nil
}

// Resume undoes Pause with SIGCONT.
func (p *Process) Resume() error { return p.Signal(syscall.SIGCONT) }

// Kill ends the process with SIGKILL and waits for it to exit. Killing no process does nothing.
func (p *Process) Kill() {
	cmd, exited := p.take()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = cmd.Process.Kill()
	<-exited
}

// Terminate ends the process with SIGTERM, as an orderly shutdown would, and waits for it to
// exit; after grace it kills it.
func (p *Process) Terminate(grace time.Duration) {
	cmd, exited := p.take()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// take forgets the process and returns what it held.
func (p *Process) take() (*exec.Cmd, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd, exited := p.cmd, p.exited
	p.cmd, p.exited = nil, nil
	return cmd, exited
}

// OnFreePort calls launch with a free loopback port and its "127.0.0.1:port" address, and again
// with another one when it fails (the port may have been taken meanwhile), up to 5 times. It
// returns the last launch's error.
func OnFreePort(launch func(port int, addr string) error) error {
	var err error
	for range 5 {
		var l net.Listener
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return err
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if err = launch(port, net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			return nil
		}
	}
	return err
}
