package memcachedtest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// childEnv makes the test binary act as a process that starts a server, prints its pid, and
// waits to be killed (see TestMain).
const childEnv = "STRATA_MEMCACHEDTEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		s, err := New(Options{})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println(s.cmd.Process.Pid)
		time.Sleep(time.Minute)
		os.Exit(1)
	}
	Main(m)
}

func TestMissingBinaryFailsWithTheInstallHint(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	s, err := New(Options{})
	if err == nil {
		s.Close()
		t.Fatal("New succeeded without memcached in PATH")
	}
	if err.Error() != InstallHint {
		t.Fatalf("error %q, want the install hint", err)
	}
}

func TestPauseKillRestart(t *testing.T) {
	s := Start(t)
	c := s.Client(t)
	c.Timeout = 200 * time.Millisecond
	if err := c.Set(&memcache.Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get("k"); err == nil {
		t.Fatal("a paused server answered")
	}
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	if it, err := c.Get("k"); err != nil || string(it.Value) != "v" {
		t.Fatalf("after Resume: %v %v", it, err)
	}
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get("k"); err == nil {
		t.Fatal("a killed server answered")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get("k"); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("a restarted server should be empty: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Pause(); err == nil {
		t.Fatal("Pause of a stopped server succeeded")
	}
}

func TestSharedServerServes(t *testing.T) {
	s := Shared(t)
	if s != Shared(t) {
		t.Fatal("Shared returned two servers")
	}
	if err := s.Client(t).Ping(); err != nil {
		t.Fatal(err)
	}
}

// TestServerDiesWithItsTestBinary kills a process that started a server, as go test's timeout
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
	if err != nil {
		_ = child.Process.Kill()
		_ = child.Wait()
		t.Fatalf("reading the child's output: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		_ = child.Process.Kill()
		_ = child.Wait()
		t.Fatalf("child said %q", line)
	}
	if !alive(pid) {
		t.Fatalf("memcached %d not running while its parent is", pid)
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("memcached %d still running 10s after its test binary was killed", pid)
		}
		time.Sleep(10 * time.Millisecond)
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
