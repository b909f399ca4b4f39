package proc

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childEnv makes the test binary act as a process that launches a server (sleep stands in for
// one), prints its pid, and waits to be killed (see TestServerDiesWithItsTestBinary).
const childEnv = "STRATA_PROC_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		var p Process
		if err := p.Launch(exec.Command("sleep", "600"), func() error { return nil }); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println(p.Pid())
		time.Sleep(time.Minute)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// TestServerDiesWithItsTestBinary kills a process that launched a server, as go test's timeout
// does, and expects the server to go with it.
func TestServerDiesWithItsTestBinary(t *testing.T) {
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), childEnv+"=1")
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	pid, convErr := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || convErr != nil {
		_ = child.Process.Kill()
		_ = child.Wait()
		t.Fatalf("child said %q (%v)", line, err)
	}
	if !alive(pid) {
		t.Fatalf("server %d not running while its parent is", pid)
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("server %d still running 10s after its parent was killed", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPauseResumeKill(t *testing.T) {
	var p Process
	if err := p.Launch(exec.Command("sleep", "600"), func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	pid := p.Pid()
	if err := p.Pause(); err != nil {
		t.Fatal(err)
	}
	if !stopped(pid) {
		t.Fatalf("process %d runs after Pause", pid)
	}
	if err := p.Resume(); err != nil {
		t.Fatal(err)
	}
	p.Kill()
	if alive(pid) || p.Pid() != 0 {
		t.Fatalf("process %d alive after Kill (Pid %d)", pid, p.Pid())
	}
	if err := p.Pause(); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Pause of no process = %v, want ErrNotRunning", err)
	}
	p.Kill() // killing no process does nothing
}

func TestTerminateKillsAfterGrace(t *testing.T) {
	var p Process
	// sh ignores SIGTERM once it has created the file, so Terminate must fall back to SIGKILL
	// after its grace.
	ready := filepath.Join(t.TempDir(), "ready")
	script := "trap '' TERM; touch " + ready + "; exec sleep 600"
	if err := p.Launch(exec.Command("sh", "-c", script), func() error { _, err := os.Stat(ready); return err }); err != nil {
		t.Fatal(err)
	}
	pid := p.Pid()
	start := time.Now()
	p.Terminate(200 * time.Millisecond)
	if alive(pid) {
		t.Fatalf("process %d alive after Terminate", pid)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("Terminate returned after %v, before its grace: the TERM was not ignored?", d)
	}
}

func TestLaunchReportsAnEarlyExit(t *testing.T) {
	var p Process
	err := p.Launch(exec.Command("false"), func() error { return errors.New("not yet") })
	if err == nil || !strings.Contains(err.Error(), "exited at start") {
		t.Fatalf("Launch of a process that exits = %v", err)
	}
	if p.Pid() != 0 {
		t.Fatal("an exited process is still held")
	}
}

// alive reports whether pid is a process that has not exited (a zombie has).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}
