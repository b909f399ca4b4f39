//go:build !linux

package memcachedtest

import (
	"os/exec"
	"syscall"
)

// startProcess starts a server process in its own process group, so that signals sent to the test
// binary's group do not reach it, and returns a channel closed once it has exited and been waited
// for.
func startProcess(cmd *exec.Cmd) (exited <-chan struct{}, err error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	return done, nil
}

// waitStopped returns at once: without /proc there is no portable way to see the stop.
func waitStopped(int) error { return nil }
