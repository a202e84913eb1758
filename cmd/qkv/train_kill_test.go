package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qkv-dev/qkv/internal/atomicfile"
	"github.com/qkv-dev/qkv/pipeline"
)

// TestTrainSurvivesSIGKILL kills qkv train with SIGKILL at random moments
// (a fixed seed, so a failure reproduces), a few dozen times, restarting it
// after each kill as a user would: --resume when a checkpoint exists, else
// a new run with --overwrite. After every kill the directory loads once a
// checkpoint exists; every start removes the temporary files a killed
// writer left; a resume never fails; and each run that reaches its end has
// the last checkpoint of a run that was never interrupted, bit for bit.
func TestTrainSurvivesSIGKILL(t *testing.T) {
	dir := t.TempDir()
	trainFile := g2pLike(t, dir, "train.tsv", 200, 21)
	validFile := g2pLike(t, dir, "valid.tsv", 20, 22)
	data := []string{"--train", trainFile, "--valid", validFile, "--metric", "none"}
	newRun := append([]string{"train", "--arch", "transformer", "--preset", "tiny-transformer", "--max-tokens", "400",
		"--max-steps", "80", "--save-every", "2", "--valid-every", "7", "--keep-snapshots", "2",
		"--schedule", "inverse-sqrt", "--lr", "3e-3", "--warmup", "10"}, data...)

	whole := filepath.Join(dir, "whole")
	began := time.Now()
	if _, stderr, err := qkv(t, "", append(newRun, "--out", whole)...); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, stderr)
	}
	want, err := os.ReadFile(filepath.Join(whole, "last.safetensors"))
	if err != nil {
		t.Fatal(err)
	}

	// Kill times are drawn in proportion to how long a whole run takes on
	// this machine now, so a loaded machine moves the kills with the work
	// (from before the lock is taken to after the last save); and a round
	// is killed at most maxKills times, then left to finish, so every round
	// ends whatever the machine's speed.
	wholeRun := time.Since(began)
	const kills, maxKills = 30, 10
	rng := rand.New(rand.NewPCG(2024, 10))
	killed, finished, round, roundKills := 0, 0, 0, 0
	out := ""
	deadline := time.Now().Add(40 * wholeRun)
	for killed < kills || out != "" {
		if time.Now().After(deadline) {
			t.Fatalf("%d kills and %d runs finished in %v (a whole run takes %v): a resumed run makes no progress", killed, finished, 40*wholeRun, wholeRun)
		}
		if out == "" {
			round++
			roundKills = 0
			out = filepath.Join(dir, fmt.Sprintf("run%d", round))
		}
		var args []string
		_, errLast := os.Stat(filepath.Join(out, "last.safetensors"))
		names, _ := pipeline.DirEntries(out)
		switch {
		case errLast == nil:
			args = append([]string{"train", "--resume", "--out", out}, data...)
		case len(names) > 0:
			args = append(append([]string{}, newRun...), "--out", out, "--overwrite")
		default:
			args = append(append([]string{}, newRun...), "--out", out)
		}
		// A temporary file as a writer killed mid-write leaves it.
		planted := ""
		if len(names) > 0 {
			planted = filepath.Join(out, ".last.safetensors.tmp-planted")
			os.WriteFile(planted, []byte("half a checkpoint"), 0o644)
		}

		cmd := exec.Command(qkvBin, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		delay := time.Duration(float64(wholeRun) * (0.02 + 0.6*rng.Float64()))
		kill := time.After(delay)
		if roundKills == maxKills || killed == kills {
			kill = nil // let this one finish
		}
		wasKilled := false
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("round %d: %v exited with %v:\n%s", round, args[1:3], err, stderr.String())
			}
		case <-kill:
			cmd.Process.Kill() // SIGKILL
			<-done
			wasKilled = true
			killed++
			roundKills++
		}
		log := stderr.String()
		if strings.Contains(log, "resuming") || strings.Contains(log, "--overwrite: removed") {
			if _, err := os.Stat(planted); planted != "" && err == nil {
				t.Fatalf("round %d: the start did not remove %s:\n%s", round, planted, log)
			}
		}
		if strings.Contains(log, "never saved a checkpoint") {
			t.Fatalf("round %d: resume with a checkpoint present: %s", round, log)
		}
		_, errBest := os.Stat(filepath.Join(out, "best.safetensors"))
		_, errLast = os.Stat(filepath.Join(out, "last.safetensors"))
		if errBest == nil || errLast == nil {
			if _, err := pipeline.Load(out); err != nil {
				t.Fatalf("round %d, after a kill at %v: the directory does not load: %v\n%s", round, delay, err, log)
			}
		}
		if !wasKilled {
			if !strings.Contains(log, "stopped (max-steps) after 80 steps") {
				t.Fatalf("round %d: the run ended without reaching its end:\n%s", round, log)
			}
			got, err := os.ReadFile(filepath.Join(out, "last.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("round %d: after %d kills the final checkpoint differs from the uninterrupted run's", round, roundKills)
			}
			for _, n := range mustEntries(t, out) {
				if atomicfile.IsTemp(n) {
					t.Errorf("round %d: temporary file %s left after the run", round, n)
				}
			}
			finished++
			out = ""
		}
	}
	if finished < kills/maxKills {
		t.Fatalf("%d kills and %d runs finished: the test did not exercise enough", killed, finished)
	}
	t.Logf("%d kills, %d runs resumed to the end (a whole run takes %v)", killed, finished, wholeRun)
}

func mustEntries(t *testing.T, dir string) []string {
	t.Helper()
	names, err := pipeline.DirEntries(dir)
	if err != nil {
		t.Fatal(err)
	}
	return names
}
