package proc

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Start starts a server process and returns a channel closed once it has exited and been
// waited for. The process runs in its own process group, so that signals sent to the test
// binary's group do not reach it, with SIGKILL as its parent-death signal: a test binary killed by
// its timeout does not leave its servers behind. The kernel sends that signal when the thread that
// started the child ends, so the start and the wait run on one locked thread, which ends only
// after the process has.
func Start(cmd *exec.Cmd) (exited <-chan struct{}, err error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return done, nil
}

// WaitStopped waits until every thread of the process is stopped (state T in /proc), which
// SIGSTOP makes them only once the kernel has stopped each: until then the process may still
// answer a client.
func WaitStopped(pid int) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && !stopped(pid) {
		time.Sleep(time.Millisecond)
	}
}

// stopped reports whether no thread of pid is running, or pid is gone.
func stopped(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return true
	}
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, t.Name()))
		if err != nil {
			continue // the thread ended
		}
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) && s[i+2] != 'T' && s[i+2] != 't' {
			return false
		}
	}
	return true
}
