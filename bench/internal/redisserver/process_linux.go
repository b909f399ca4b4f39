package redisserver

import (
	"os/exec"
	"runtime"
	"syscall"
)

// startProcess starts the server in its own process group with SIGKILL as its parent-death
// signal, so a benchmark binary killed by its timeout leaves no server behind. The kernel sends
// that signal when the thread that started the child ends, so the start and the wait run on one
// locked thread that ends only after the server has.
func startProcess(cmd *exec.Cmd) (<-chan struct{}, error) {
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
