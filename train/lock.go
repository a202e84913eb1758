package train

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// LockFile is the lock file of a run directory. It stays in the directory
// after the run (removing it would let two processes lock two different
// files of the same name); what it holds, the pid of the holder, is only
// for messages.
const LockFile = ".qkv.lock"

// ErrLocked is the error of Lock on a directory another process holds.
var ErrLocked = errors.New("run directory in use")

// DirLock is a held run-directory lock. The operating system releases it
// when the process ends in any way, kill -9 included.
type DirLock struct {
	dir     string
	f       *os.File
	created bool // Lock made the directory
}

// Lock takes the exclusive lock of the run directory dir, creating the
// directory if it does not exist, without waiting: if another process
// holds it, the error (wrapping ErrLocked) names the directory and, when
// known, the other process's id. Take it before writing or removing
// anything in dir, and hold it for the whole run.
func Lock(dir string) (*DirLock, error) {
	created := false
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		created = true
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	path := filepath.Join(dir, LockFile)
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("run directory %s: lock: %w", dir, err)
		}
		held, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("run directory %s: lock %s: %w", dir, path, err)
		}
		if !held {
			who := "another qkv process"
			if raw, err := os.ReadFile(path); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil && pid > 0 {
					who = fmt.Sprintf("another qkv process (pid %d)", pid)
				}
			}
			f.Close()
			return nil, fmt.Errorf("%w: %s is being trained by %s: wait for it to finish, or choose another --out", ErrLocked, dir, who)
		}
		// The file may have been removed (by Unlock of a run that made the
		// directory) between our open and our lock: then we hold a lock
		// on a file nobody else will find. Try again.
		st, err1 := f.Stat()
		cur, err2 := os.Stat(path)
		if err1 != nil || err2 != nil || !os.SameFile(st, cur) {
			f.Close()
			if created {
				os.MkdirAll(dir, 0o755)
			}
			continue
		}
		if err := f.Truncate(0); err == nil {
			f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		}
		return &DirLock{dir: dir, f: f, created: created}, nil
	}
}

// Unlock releases the lock. If Lock made the directory and nothing but the
// lock file is in it (the run failed before writing anything), the
// directory is removed too, so a mistyped command leaves nothing behind.
func (l *DirLock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	if l.created {
		if entries, err := os.ReadDir(l.dir); err == nil && len(entries) == 1 && entries[0].Name() == LockFile {
			os.Remove(filepath.Join(l.dir, LockFile))
			os.Remove(l.dir)
		}
	}
	err := l.f.Close() // closing the descriptor releases the lock
	l.f = nil
	return err
}
