//go:build !linux

package redisserver

import "os/exec"

// startProcess starts the server and returns a channel closed once it has exited.
func startProcess(cmd *exec.Cmd) (<-chan struct{}, error) {
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
