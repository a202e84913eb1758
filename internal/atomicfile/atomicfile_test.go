package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestCommitAndAbort(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.txt")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("new content")
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Fatalf("target changed before Commit: %q", b)
	}
	f.Abort()
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Fatalf("Abort changed the target: %q", b)
	}
	if got := entries(t, dir); !slices.Equal(got, []string{"out.txt"}) {
		t.Fatalf("after Abort the directory holds %v", got)
	}

	f, err = Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	f.WriteString("new")
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	f.Abort() // after Commit: nothing
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Fatalf("after Commit: %q", b)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("replaced file has mode %v, want the old 0600", fi.Mode().Perm())
	}
	if err := f.Commit(); err == nil {
		t.Error("a second Commit succeeded")
	}
	if got := entries(t, dir); !slices.Equal(got, []string{"out.txt"}) {
		t.Fatalf("after Commit the directory holds %v", got)
	}
}

func TestWriteFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x")
	if err := WriteFile(path, []byte("one")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(path, func(w io.Writer) error {
		w.Write([]byte("partial"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the writer's", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "one" {
		t.Fatalf("failed write changed the file: %q", b)
	}
	if got := entries(t, dir); len(got) != 1 {
		t.Fatalf("failed write left %v", got)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "x"), nil); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
	if err := WriteFile(dir, nil); err == nil {
		t.Error("replacing a directory succeeded")
	}
}

func TestNotAnInput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	os.WriteFile(in, []byte("x"), 0o644)
	link := filepath.Join(dir, "link.txt")
	if err := os.Link(in, link); err != nil {
		t.Fatal(err)
	}
	sym := filepath.Join(dir, "sym.txt")
	if err := os.Symlink("in.txt", sym); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.txt")
	os.WriteFile(other, []byte("y"), 0o644)
	for _, out := range []string{in, link, sym, filepath.Join(dir, ".", "in.txt")} {
		if err := NotAnInput(out, "", other, in); err == nil {
			t.Errorf("output %s accepted though it is the input", out)
		}
	}
	for _, out := range []string{other, filepath.Join(dir, "new.txt"), "", "-"} {
		if err := NotAnInput(out, in, "-"); err != nil {
			t.Errorf("output %s refused: %v", out, err)
		}
	}
}

func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	f, err := Create(filepath.Join(dir, "last.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("half")
	// Simulate a kill -9: the File is never committed nor aborted.
	os.WriteFile(filepath.Join(dir, "keep.txt"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, ".hidden"), nil, 0o644)
	removed, err := RemoveStale(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || !IsTemp(filepath.Base(removed[0])) {
		t.Fatalf("removed %v, want the one temporary file", removed)
	}
	if got := entries(t, dir); !slices.Equal(got, []string{".hidden", "keep.txt"}) {
		t.Fatalf("left %v", got)
	}
}

func TestCanCreate(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "old.txt")
	os.WriteFile(old, []byte("keep"), 0o644)
	for _, ok := range []string{old, filepath.Join(dir, "new.txt")} {
		if err := CanCreate(ok); err != nil {
			t.Errorf("CanCreate(%s): %v", ok, err)
		}
	}
	for _, bad := range []string{dir, filepath.Join(dir, "missing", "x.txt"), filepath.Join(old, "x.txt")} {
		if err := CanCreate(bad); err == nil {
			t.Errorf("CanCreate(%s) accepted a path no file can be written to", bad)
		}
	}
	if b, _ := os.ReadFile(old); string(b) != "keep" {
		t.Errorf("CanCreate changed an existing file: %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "new.txt")); err == nil {
		t.Error("CanCreate left the file it checked")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("CanCreate left files behind: %v", ents)
	}
}
