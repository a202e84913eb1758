package files

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Lines reads as qkv predict does: a byte-order mark at the start dropped,
// "\r\n" accepted, empty lines kept (they are inputs too), no line after a
// final "\n", a last line without one kept, and lines of any length whole.
func TestLines(t *testing.T) {
	long := strings.Repeat("x", 20<<20) // past bufio.Scanner's limits
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"\n", []string{""}},
		{"a", []string{"a"}},
		{"\uFEFFa\r\nb\n\nc", []string{"a", "b", "", "c"}},
		{"a\n\uFEFFb\n", []string{"a", "\uFEFFb"}},
		{long + "\nz\n", []string{long, "z"}},
	} {
		var got []string
		var idx []int
		err := Lines(strings.NewReader(c.in), func(i int, l string) error {
			got, idx = append(got, l), append(idx, i)
			return nil
		})
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("Lines(%.20q) = %.40q, %v; want %.40q", c.in, got, err, c.want)
		}
		for i, n := range idx {
			if n != i {
				t.Errorf("line %d numbered %d", i, n)
			}
		}
	}
	stop := errors.New("stop")
	if err := Lines(strings.NewReader("a\nb\n"), func(int, string) error { return stop }); err != stop {
		t.Errorf("the callback's error came back as %v", err)
	}
}

// WriteFile makes the directory, and a failed write leaves the previous
// file as it was and no temporary file behind.
func TestWriteFile(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "new", "dir", "out.txt")
	write := func(s string) func(io.Writer) error {
		return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
	}
	if err := WriteFile(ctx, p, write("first\n")); err != nil {
		t.Fatal(err)
	}
	bad := errors.New("disk on fire")
	if err := WriteFile(ctx, p, func(w io.Writer) error { io.WriteString(w, "half"); return bad }); !errors.Is(err, bad) {
		t.Errorf("a failed write returned %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "first\n" {
		t.Errorf("after a failed write the file holds %q", b)
	}
	entries, _ := os.ReadDir(filepath.Dir(p))
	if len(entries) != 1 {
		t.Errorf("the directory holds %d entries, want the file alone", len(entries))
	}
	got, err := ReadFile(ctx, p)
	if err != nil || string(got) != "first\n" {
		t.Errorf("ReadFile: %q, %v", got, err)
	}
	if ok, err := Exists(ctx, p+"x"); ok || err != nil {
		t.Errorf("Exists of a missing file: %v, %v", ok, err)
	}
	if _, err := Expand(ctx, filepath.Join(filepath.Dir(p), "*.none")); err == nil || !strings.Contains(err.Error(), "matches no file") {
		t.Errorf("a glob matching nothing: %v", err)
	}
	if Join("gs://b/m/", "config.json") != "gs://b/m/config.json" || Join("m", "config.json") != "m/config.json" || IsLocal("gs://b") || !IsLocal("/x") {
		t.Error("Join or IsLocal")
	}
}
