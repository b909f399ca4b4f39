package disktier

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// A small file beside Pebble's records how the store was last left:
//
//	boot <id>    the machine's boot id when the store was opened
//	sync <0|1>   whether that process fsynced every write (Options.Sync)
//	clean <0|1>  whether Close completed (everything flushed and fsynced)
//
// A store that was not closed cleanly by a process that did not fsync its writes may have lost
// its last writes only if the machine went down too (a killed process loses nothing: every write
// reached the kernel before it returned). Open then cannot tell which deletions and overwrites
// were lost, so older entries could come back: it empties the store instead. The boot id tells a
// machine crash from a process crash (Linux; elsewhere every unclean stop counts as one).
const (
	stateFile = "STRATA-DISK"
	lockFile  = "STRATA-LOCK"
)

type storeState struct {
	boot  string
	sync  bool
	clean bool
}

// bootID returns an id that changes on every boot of the machine, or "" when unknown. Tests
// replace it.
var bootID = func() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// readState reads the state file; ok is false when there is none.
func readState(dir string) (st storeState, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return st, false, nil
	}
	if err != nil {
		return st, false, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, _ := strings.Cut(line, " ")
		switch k {
		case "boot":
			st.boot = v
		case "sync":
			st.sync = v == "1"
		case "clean":
			st.clean = v == "1"
		}
	}
	return st, true, nil
}

// writeState replaces the state file durably (a new file, fsynced, renamed over the old one, and
// the directory fsynced).
func writeState(dir string, st storeState) error {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "boot %s\nsync %s\nclean %s\n", st.boot, bit(st.sync), bit(st.clean))
	tmp := filepath.Join(dir, stateFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, stateFile)); err != nil {
		return err
	}
	return syncDir(dir)
}

func bit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// mayHaveLost reports whether a store left in state st may have lost acknowledged writes.
func (st storeState) mayHaveLost(boot string) bool {
	return !st.clean && !st.sync && (boot == "" || st.boot != boot)
}

// wipe removes every file of the store in dir but the lock and the state file.
func wipe(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if n := e.Name(); n == lockFile || n == stateFile {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return syncDir(dir)
}
