package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// qkv beam hands every argument to a qkv-beam beside the qkv executable
// and passes its output and exit status on; without one it says how to
// build it.
func TestBeamRunsQkvBeam(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "qkv")
	b, err := os.ReadFile(qkvBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, string, int) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "PATH="+filepath.Join(dir, "empty"))
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if e, ok := err.(*exec.ExitError); ok {
			code = e.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}

	_, stderr, code := run("beam", "predict", "--model", "m")
	if code == 0 || !strings.Contains(stderr, "qkv-beam") || !strings.Contains(stderr, "go build -o ../qkv-beam ./cmd/qkv-beam") {
		t.Errorf("without qkv-beam: status %d, stderr %q; want an error saying how to build it", code, stderr)
	}
	stdout, _, _ := run("beam", "--help")
	if !strings.Contains(stdout, "qkv beam predict --model DIR") {
		t.Errorf("qkv beam --help without qkv-beam printed %q", stdout)
	}

	script := "#!/bin/sh\nfor a in \"$@\"; do echo \"[$a]\"; done\necho oops >&2\nexit 3\n"
	if err := os.WriteFile(filepath.Join(dir, "qkv-beam"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = run("beam", "predict", "--model", "a b", "--threads", "1", "--", "--project=p")
	if want := "[predict]\n[--model]\n[a b]\n[--threads]\n[1]\n[--]\n[--project=p]\n"; stdout != want {
		t.Errorf("qkv-beam got\n%s, want\n%s", stdout, want)
	}
	if code != 3 || stderr != "oops\n" {
		t.Errorf("status %d, stderr %q: want qkv-beam's 3 and its stderr alone", code, stderr)
	}
}
