package disktier

import (
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Every write is committed as a synced Pebble write, so that Pebble hands the log record to the
// operating system before the write returns: a process killed right after loses nothing. What
// "synced" then means is decided here. With Options.Sync the log is fsynced as Pebble asks. Without
// it, the log file's syncs only push the data to the kernel (which Pebble's write has already
// done) and skip the fsync: a crash of the machine may lose the last writes, which Open detects
// (see state.go). Tables and the manifest are always synced as Pebble asks.
type walFS struct {
	vfs.FS
	fsync *atomic.Bool // fsync the log; switched on for the durable marker written by Close
}

const walCategory vfs.DiskWriteCategory = "pebble-wal"

func (f walFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	file, err := f.FS.Create(name, category)
	return f.wrap(file, category), err
}

func (f walFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	file, err := f.FS.ReuseForWrite(oldname, newname, category)
	return f.wrap(file, category), err
}

func (f walFS) wrap(file vfs.File, category vfs.DiskWriteCategory) vfs.File {
	if file == nil || category != walCategory {
		return file
	}
	return walFile{File: file, fsync: f.fsync}
}

// Unwrap returns the file system walFS wraps.
func (f walFS) Unwrap() vfs.FS { return f.FS }

// walFile is a log file whose syncs are fsyncs only while fsync is set.
type walFile struct {
	vfs.File
	fsync *atomic.Bool
}

func (w walFile) Sync() error {
	if w.fsync.Load() {
		return w.File.Sync()
	}
	return nil
}

func (w walFile) SyncData() error {
	if w.fsync.Load() {
		return w.File.SyncData()
	}
	return nil
}

func (w walFile) SyncTo(length int64) (bool, error) {
	if w.fsync.Load() {
		return w.File.SyncTo(length)
	}
	return false, nil
}
