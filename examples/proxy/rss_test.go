package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratacache/strata/examples/internal/connect"
)

// bodySize is the size of every response of the origin in TestProxyMemoryBoundedByBytes.
const bodySize = 64 << 10

// TestProxyMemoryBoundedByBytes runs the proxy binary without Redis and sends it 20,000 distinct
// 64 KiB responses to store: its peak RSS stays under 1.5 × -l1-bytes + 64 MiB. The bound is
// 32 MiB here; STRATA_PROXY_L1_BYTES sets another (0 means the proxy's default,
// httpcache.DefaultL1MaxBytes), to measure the default:
//
//	STRATA_PROXY_L1_BYTES=0 go test -run TestProxyMemoryBoundedByBytes -v ./examples/proxy/
func TestProxyMemoryBoundedByBytes(t *testing.T) {
	bound := uint64(32 << 20)
	args := []string{}
	if s := os.Getenv("STRATA_PROXY_L1_BYTES"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		bound = n
	}
	if bound == 0 {
		bound = 256 << 20 // httpcache.DefaultL1MaxBytes, the flag's default
	} else {
		args = append(args, "-l1-bytes", strconv.FormatUint(bound, 10))
	}
	const bodies = 20_000
	n := bodies
	if testing.Short() {
		n = 5_000
	}
	bin := filepath.Join(t.TempDir(), "proxy")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Content-Length", strconv.Itoa(bodySize))
		_, _ = io.WriteString(w, bodyHead(r.URL.Path))
		_, _ = w.Write(filler[:bodySize-len(bodyHead(r.URL.Path))])
	}))
	defer origin.Close()
	addr, err := connect.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"-listen", addr, "-origin", origin.URL}, args...)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get("http://" + addr + "/ready")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxy not answering: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var next, wrong atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, bodySize+1)
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				path := fmt.Sprint("/b/", i)
				resp, err := client.Get("http://" + addr + path)
				if err != nil {
					t.Error(err)
					return
				}
				n, err := io.ReadFull(resp.Body, buf)
				resp.Body.Close()
				head := bodyHead(path)
				if err != io.ErrUnexpectedEOF || n != bodySize || resp.StatusCode != http.StatusOK ||
					string(buf[:len(head)]) != head || !bytes.Equal(buf[len(head):n], filler[:bodySize-len(head)]) {
					wrong.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if w := wrong.Load(); w != 0 {
		t.Fatalf("%d wrong answers", w)
	}
	// The proxy does store: a path asked for a few times is answered from the cache.
	hit := false
	for range 4 {
		resp, err := client.Get("http://" + addr + "/final")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		hit = hit || strings.Contains(resp.Header.Get("Cache-Status"), "hit")
	}
	if !hit {
		t.Fatal("nothing answered from the cache")
	}
	peak, rss := procStatus(t, cmd.Process.Pid, "VmHWM"), procStatus(t, cmd.Process.Pid, "VmRSS")
	limit := bound*3/2 + 64<<20
	t.Logf("%d distinct %d KiB bodies, -l1-bytes %d MiB: peak RSS %d MiB, RSS now %d MiB (limit %d MiB)",
		n, bodySize>>10, bound>>20, peak>>20, rss>>20, limit>>20)
	if peak > limit {
		t.Fatalf("peak RSS %d MiB over %d MiB", peak>>20, limit>>20)
	}
}

// The origin's answer for a path is bodyHead(path) followed by filler, 64 KiB in all: every
// path has its own body.
var filler = bytes.Repeat([]byte("0123456789abcdef"), 4<<10)

func bodyHead(path string) string { return "body of " + path + ";" }

// procStatus reads a memory field of /proc/pid/status, in bytes.
func procStatus(t *testing.T, pid int, field string) uint64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
