// Package atomicfile is the one way qkv writes a file: to a temporary file in
// the target's directory, flushed and fsynced, then renamed over the target
// and the directory fsynced. A reader (or a crash, a full disk, a kill -9)
// sees the old file or the new one, never a mix, and a failed write leaves
// the old content in place. It also keeps an output from ever being one of
// the inputs it is computed from (compared by device and inode, so links
// and other spellings of a path are caught), and removes the temporary files
// that a killed process left behind.
//
// Temporary files are named ".<base>.tmp-<random>" beside the target, so
// they are hidden, never match a target's glob, and StaleTemps finds them.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
)

// tempInfix separates a target's base name from the random suffix of its
// temporary files: ".<base>.tmp-<random>".
const tempInfix = ".tmp-"

// File is a file being written atomically: write to it, then Commit to put
// it in place, or Abort to throw it away. Abort after Commit does nothing,
// so `defer f.Abort()` right after Create is the usual pattern.
type File struct {
	path string
	tmp  *os.File
	bw   *bufio.Writer
	mode os.FileMode
	done bool
	err  error // first write error: Commit reports it
}

// Create starts writing the file at path. A new file gets mode 0644; a
// replaced file keeps its mode. A symbolic link at path is replaced by the
// file, not followed; a directory or other non-regular file at path is an
// error.
func Create(path string) (*File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if base == "" || base == "." || base == ".." {
		return nil, fmt.Errorf("write %q: not a file name", path)
	}
	mode := os.FileMode(0o644)
	if fi, err := os.Lstat(path); err == nil {
		switch {
		case fi.Mode().IsRegular():
			mode = fi.Mode().Perm()
		case fi.Mode()&fs.ModeSymlink != 0:
			if st, err := os.Stat(path); err == nil && st.IsDir() {
				return nil, fmt.Errorf("write %s: a link to a directory", path)
			}
		default:
			return nil, fmt.Errorf("write %s: not a regular file", path)
		}
	}
	f, err := os.CreateTemp(dir, "."+base+tempInfix+"*")
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return &File{path: path, tmp: f, bw: bufio.NewWriterSize(f, 1<<20), mode: mode}, nil
}

// CanCreate checks, before any long work, that Create(path) would succeed
// now: path is not a directory or other non-regular file, and its directory
// exists and takes new files. It creates a temporary file there and removes
// it at once, so a command can refuse a bad output path up front instead of
// failing after an hour of decoding or training.
func CanCreate(path string) error {
	f, err := Create(path)
	if err != nil {
		return err
	}
	f.Abort()
	return nil
}

// Name is the path the file will have after Commit.
func (f *File) Name() string { return f.path }

// Write writes to the temporary file. The first error sticks: later writes
// do nothing and Commit returns it.
func (f *File) Write(p []byte) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	if f.done {
		return 0, fmt.Errorf("write %s: already committed or aborted", f.path)
	}
	n, err := f.bw.Write(p)
	if err != nil {
		f.err = fmt.Errorf("write %s: %w", f.path, err)
		return n, f.err
	}
	return n, nil
}

// WriteString is Write of a string.
func (f *File) WriteString(s string) (int, error) { return f.Write([]byte(s)) }

// Commit flushes, syncs and renames the temporary file over the target,
// then syncs the directory. On any error the temporary file is removed and
// the target keeps its previous content.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("write %s: already committed or aborted", f.path)
	}
	if f.err != nil {
		f.Abort()
		return f.err
	}
	fail := func(what string, err error) error {
		f.Abort()
		return fmt.Errorf("write %s: %s%w", f.path, what, err)
	}
	if err := f.bw.Flush(); err != nil {
		return fail("", err)
	}
	if err := f.tmp.Chmod(f.mode); err != nil && runtime.GOOS != "windows" {
		return fail("", err)
	}
	if err := f.tmp.Sync(); err != nil {
		return fail("sync: ", err)
	}
	if err := f.tmp.Close(); err != nil {
		return fail("", err)
	}
	if err := os.Rename(f.tmp.Name(), f.path); err != nil {
		return fail("", err)
	}
	f.done = true
	if err := syncDir(filepath.Dir(f.path)); err != nil {
		return fmt.Errorf("write %s: sync directory: %w", f.path, err)
	}
	return nil
}

// Abort removes the temporary file; the target is left as it was. It does
// nothing after Commit or a previous Abort.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.tmp.Close()
	os.Remove(f.tmp.Name())
}

// Write creates or replaces the file at path with what write produces,
// through a File: if write (or any later step) fails, or write panics, the
// temporary file is removed and path keeps its previous content.
func Write(path string, write func(io.Writer) error) error {
	f, err := Create(path)
	if err != nil {
		return err
	}
	defer f.Abort() // runs on error and on panic: never leave the temporary file
	if err := write(f); err != nil {
		if f.err != nil && errors.Is(err, f.err) {
			return err
		}
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Commit()
}

// WriteFile is Write of a byte slice, like os.WriteFile.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// NotAnInput returns an error when output names the same file as one of
// inputs (the same device and inode: a hard link, a symbolic link or another
// spelling of the path all count), so that writing the output cannot
// destroy an input before it has been read. An output that does not exist
// yet, and inputs that do not exist or are "" or "-", are fine.
func NotAnInput(output string, inputs ...string) error {
	if output == "" || output == "-" {
		return nil
	}
	out, err := os.Stat(output)
	if err != nil {
		return nil // does not exist yet (or cannot be seen): cannot be an input
	}
	for _, in := range inputs {
		if in == "" || in == "-" {
			continue
		}
		st, err := os.Stat(in)
		if err != nil {
			continue
		}
		if os.SameFile(out, st) {
			if in == output {
				return fmt.Errorf("output %s is also an input: writing it would destroy what is being read", output)
			}
			return fmt.Errorf("output %s is the input %s (the same file): writing it would destroy what is being read", output, in)
		}
	}
	return nil
}

// IsTemp reports whether a file name is one of this package's temporary
// files (".<base>.tmp-<random>").
func IsTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, tempInfix)
}

// RemoveStale removes the temporary files that writers killed before Commit
// or Abort (kill -9, a power cut) left in dir, and returns their paths. Call
// it only where no other process is writing (e.g. holding the run's lock).
func RemoveStale(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range entries {
		if !e.Type().IsRegular() || !IsTemp(e.Name()) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, err
		}
		removed = append(removed, p)
	}
	return removed, nil
}

// syncDir makes a rename in dir durable. File systems and systems that
// cannot sync a directory (EINVAL, ENOTSUP; Windows) are not an error.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return err
	}
	return nil
}
