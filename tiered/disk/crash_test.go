package disktier_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	disktier "github.com/stratacache/strata/tiered/disk"
)

// The crash tests run the test binary again as a child that writes to a store without pause and
// reports each operation before it starts it ("op") and after it returned ("ack"). The parent
// kills the child with SIGKILL, opens the store and checks it against a model of the acknowledged
// operations: the store must open, every entry must be exactly what some write wrote, and the
// state must be that of the acknowledged operations, plus perhaps the one in flight.
const (
	crashChildEnv = "STRATA_DISKTIER_CRASH_DIR"
	crashSyncEnv  = "STRATA_DISKTIER_CRASH_SYNC"
	crashSeedEnv  = "STRATA_DISKTIER_CRASH_SEED"
	crashKeys     = 200
)

// crashValue is the value op seq writes under key: its length varies from a few bytes to more
// than a Pebble log block, and it names its key and op, so that a torn or misplaced entry shows.
func crashValue(key string, seq int) []byte {
	rng := rand.New(rand.NewPCG(uint64(seq), 99))
	n := 16 + rng.IntN(1024)
	if rng.IntN(10) == 0 {
		n = 32<<10 + rng.IntN(64<<10)
	}
	head := fmt.Sprintf("%s|%d|", key, seq)
	v := make([]byte, 0, n+len(head)+32)
	v = append(v, head...)
	for len(v) < n+len(head) {
		v = binary.LittleEndian.AppendUint64(v, rng.Uint64())
	}
	sum := sha256.Sum256(v)
	return append(v, sum[:]...)
}

// crashOp is one operation of the child: a set of one or more keys (a SetMany is atomic) or a
// delete.
type crashOp struct {
	seq  int
	del  bool
	keys []string
}

func crashOpFor(seq int) crashOp {
	rng := rand.New(rand.NewPCG(uint64(seq), 7))
	op := crashOp{seq: seq}
	n := 1
	if rng.IntN(5) == 0 {
		n = 2 + rng.IntN(4)
	}
	for range n {
		op.keys = append(op.keys, "k"+strconv.Itoa(rng.IntN(crashKeys)))
	}
	op.del = rng.IntN(6) == 0
	return op
}

// crashChild is the child's main: it writes until it is killed (or a minute has passed).
func crashChild(dir string) {
	b, err := disktier.Open(dir, disktier.Options{Sync: os.Getenv(crashSyncEnv) == "1"})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	first, _ := strconv.Atoi(os.Getenv(crashSeedEnv))
	out := bufio.NewWriterSize(os.Stdout, 64)
	ctx := context.Background()
	deadline := time.Now().Add(time.Minute)
	for seq := first; time.Now().Before(deadline); seq++ {
		op := crashOpFor(seq)
		fmt.Fprintf(out, "op %d\n", seq)
		_ = out.Flush()
		if op.del {
			err = b.Delete(ctx, op.keys...)
		} else {
			data := make([][]byte, len(op.keys))
			ttls := make([]time.Duration, len(op.keys))
			for i, k := range op.keys {
				data[i], ttls[i] = crashValue(k, seq), time.Hour
			}
			err = b.SetMany(ctx, op.keys, data, ttls)
		}
		if err != nil {
			fmt.Fprintln(out, "error", err)
			_ = out.Flush()
			os.Exit(2)
		}
		fmt.Fprintf(out, "ack %d\n", seq)
		_ = out.Flush()
	}
	os.Exit(3)
}

// model is what the store should hold: key → the seq of the op that wrote it.
type model map[string]int

func (m model) apply(op crashOp) {
	for _, k := range op.keys {
		if op.del {
			delete(m, k)
		} else {
			m[k] = op.seq
		}
	}
}

func (m model) clone() model {
	c := make(model, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// runCrashChild starts a child on dir at op first, kills it after acks acknowledged operations,
// and returns the last acknowledged op and the op in flight (-1 if none).
func runCrashChild(t *testing.T, dir string, sync bool, first, acks int) (lastAck, inFlight int) {
	t.Helper()
	// The child's parent-death signal fires when the thread that started it ends: keep it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashSeedEnv+"="+strconv.Itoa(first))
	if sync {
		cmd.Env = append(cmd.Env, crashSyncEnv+"=1")
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lastAck, inFlight = first-1, -1
	sc := bufio.NewScanner(stdout)
	killed := false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "op":
			inFlight, _ = strconv.Atoi(f[1])
		case "ack":
			lastAck, _ = strconv.Atoi(f[1])
			inFlight = -1
			if !killed && lastAck-first+1 >= acks {
				_ = cmd.Process.Signal(syscall.SIGKILL)
				killed = true
			}
		default:
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("child: %s\n%s", sc.Text(), stderr.String())
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended before it was killed: %v\n%s", err, stderr.String())
	}
	return lastAck, inFlight
}

// verify checks the store in dir against the acknowledged model, allowing the op in flight to
// have been applied or not, and returns the model the store matches.
func verify(t *testing.T, b *disktier.Backend, acked model, inFlight int) model {
	t.Helper()
	ctx := context.Background()
	withFlight := acked.clone()
	if inFlight >= 0 {
		withFlight.apply(crashOpFor(inFlight))
	}
	got := model{}
	for i := range crashKeys {
		k := "k" + strconv.Itoa(i)
		v, ok, err := b.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			continue
		}
		head, _, found := bytes.Cut(v, []byte("|"))
		rest, _, _ := bytes.Cut(v[len(head)+1:], []byte("|"))
		seq, err := strconv.Atoi(string(rest))
		if !found || string(head) != k || err != nil {
			t.Fatalf("%s holds an entry of another key or none: %.40q", k, v)
		}
		if !bytes.Equal(v, crashValue(k, seq)) {
			t.Fatalf("%s holds an incomplete or altered entry of op %d (%d bytes)", k, seq, len(v))
		}
		got[k] = seq
	}
	for _, want := range []model{acked, withFlight} {
		if equal(got, want) {
			return got
		}
	}
	t.Fatalf("the store holds %v\nacknowledged: %v\nwith op %d: %v", got, acked, inFlight, withFlight)
	return nil
}

func equal(a, b model) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Killed mid-write, again and again: the store opens, every entry is complete, and no
// acknowledged write is lost, deletions included (an older entry never comes back).
func TestCrashMidWriteLeavesACompleteStore(t *testing.T) {
	for _, sync := range []bool{false, true} {
		t.Run(fmt.Sprintf("sync=%v", sync), func(t *testing.T) {
			dir := t.TempDir()
			m := model{}
			seq := 0
			rng := rand.New(rand.NewPCG(3, 4))
			for round := range 4 {
				acks := 50 + rng.IntN(400)
				if sync {
					acks = 20 + rng.IntN(60)
				}
				lastAck, inFlight := runCrashChild(t, dir, sync, seq, acks)
				for s := seq; s <= lastAck; s++ {
					m.apply(crashOpFor(s))
				}
				b, err := disktier.Open(dir, disktier.Options{})
				if err != nil {
					t.Fatalf("round %d: the store does not open after the kill: %v", round, err)
				}
				if b.Wiped() {
					t.Fatalf("round %d: the store was emptied after a process crash", round)
				}
				m = verify(t, b, m, inFlight)
				checkCounts(t, b)
				if err := b.Close(); err != nil {
					t.Fatal(err)
				}
				t.Logf("round %d: killed after op %d (op %d in flight); %d keys verified", round, lastAck, inFlight, len(m))
				seq = max(lastAck, inFlight) + 1
			}
		})
	}
}

// After an unclean stop followed by a restart of the machine (simulated with another boot id), a
// store whose writes were not fsynced starts empty; one whose writes were is kept whole.
func TestMachineCrashEmptiesAnUnsyncedStore(t *testing.T) {
	for _, sync := range []bool{false, true} {
		t.Run(fmt.Sprintf("sync=%v", sync), func(t *testing.T) {
			dir := t.TempDir()
			lastAck, inFlight := runCrashChild(t, dir, sync, 0, 30)
			m := model{}
			for s := 0; s <= lastAck; s++ {
				m.apply(crashOpFor(s))
			}
			restore := disktier.SetBootID("another-boot")
			b, err := disktier.Open(dir, disktier.Options{Sync: sync})
			restore()
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if b.Wiped() == sync {
				t.Fatalf("Wiped = %v with Sync %v", b.Wiped(), sync)
			}
			if !sync {
				if s := b.Stats(); s.Entries != 0 {
					t.Fatalf("emptied store holds %+v", s)
				}
				return
			}
			verify(t, b, m, inFlight)
		})
	}
}
