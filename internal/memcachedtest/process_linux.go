package memcachedtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// startProcess starts a server process and returns a channel closed once it has exited and been
// waited for. The process runs in its own process group, so that signals sent to the test
// binary's group do not reach it, with SIGKILL as its parent-death signal: a test binary killed by
// its timeout does not leave its servers behind. The kernel sends that signal when the thread that
// started the child ends, so the start and the wait run on one locked thread, which ends only
// after the process has.
func startProcess(cmd *exec.Cmd) (exited <-chan struct{}, err error) {
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

// waitStopped waits until every thread of pid has stopped after a SIGSTOP: the signal is
// delivered asynchronously, and a thread still running could answer one more request.
func waitStopped(pid int) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		if allStopped(pid) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("memcachedtest: process %d did not stop", pid)
		}
		time.Sleep(time.Millisecond)
	}
}

func allStopped(pid int) bool {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "stat"))
		if err != nil {
			return false
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || i+2 >= len(s) || s[i+2] != 'T' {
			return false
		}
	}
	return true
}
