package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/qkv-dev/qkv/internal/atomicfile"
	"github.com/qkv-dev/qkv/internal/excerpt"
	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/train"
)

// lossLogHeader names the columns of qkv train --loss-log: the step, the
// label-smoothed loss and the unsmoothed NLL per target token, the learning
// rate the step used, the gradient norm before clipping, and the source and
// target tokens of the step (BOS and EOS included).
const lossLogHeader = "step\tloss\tnll\tlr\tgrad_norm\ttokens\n"

// lossLog appends one line per optimizer step to a TSV file. The file is
// append-only while a run goes on (one write per line, so a killed run
// leaves whole lines, or at worst one partial last line); a resumed run
// first drops the lines after the step it resumes from, which the
// interrupted run logged after its last save and will log again.
type lossLog struct {
	f   *os.File
	err error // the first write error, reported once at the end
}

// openLossLog prepares path for a run: a new run (resumeStep < 0) starts
// it with the header, refusing a file that already holds lines unless
// overwrite is set; a resumed run keeps its lines up to resumeStep. A file
// that is not a loss log, or is named like a run directory's file, is
// refused even with overwrite. The
// rewrite goes through atomicfile, so what was there is never half lost.
func openLossLog(path string, resumeStep int64, overwrite bool, inputs ...string) (*lossLog, error) {
	if err := atomicfile.NotAnInput(path, inputs...); err != nil {
		return nil, fmt.Errorf("--loss-log: %w", err)
	}
	// A log named like a run's file (run1/config.json, run/last.safetensors)
	// would replace that file, or be replaced by it, or be removed by a
	// later --overwrite: in this run's directory or another's.
	if base := filepath.Base(path); pipeline.IsRunFile(base) || base == pipeline.LockFile {
		return nil, fmt.Errorf("--loss-log %s has the name of a file of a run directory (%s), which qkv train writes and --overwrite removes: name the log otherwise, e.g. loss.tsv", path, base)
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("--loss-log: %w", err)
	}
	// --overwrite replaces a previous loss log, never another kind of file.
	if len(old) > 0 && !strings.HasPrefix(string(old), lossLogHeader) {
		return nil, fmt.Errorf("--loss-log %s holds something other than a qkv loss log (its first line is %s, not the header %q): give another file", path, excerpt.Quote(strings.SplitN(string(old), "\n", 2)[0]), strings.TrimSuffix(lossLogHeader, "\n"))
	}
	var keep bytes.Buffer
	keep.WriteString(lossLogHeader)
	switch {
	case resumeStep < 0 && len(old) > 0 && !overwrite:
		return nil, fmt.Errorf("--loss-log %s already holds a log: give another file, remove it, or --overwrite", path)
	case resumeStep >= 0:
		text := string(old)
		if i := strings.LastIndexByte(text, '\n'); i+1 < len(text) {
			text = text[:i+1] // a partial last line, cut by a kill
		}
		for n, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
			if line == "" || line+"\n" == lossLogHeader {
				continue
			}
			field, _, ok := strings.Cut(line, "\t")
			step, err := strconv.ParseInt(field, 10, 64)
			if !ok || err != nil {
				return nil, fmt.Errorf("--loss-log %s: line %d is not a loss log line: %s", path, n+1, excerpt.Quote(line))
			}
			if step <= resumeStep {
				keep.WriteString(line + "\n")
			}
		}
	}
	if err := atomicfile.WriteFile(path, keep.Bytes()); err != nil {
		return nil, fmt.Errorf("--loss-log: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("--loss-log: %w", err)
	}
	return &lossLog{f: f}, nil
}

// step appends the line of one optimizer step.
func (l *lossLog) step(p train.Progress) {
	if l.err != nil {
		return
	}
	_, l.err = fmt.Fprintf(l.f, "%d\t%.5f\t%.5f\t%.4e\t%.4f\t%d\n", p.Step, p.Loss, p.NLL, p.LR, p.GradNorm, p.StepTokens)
}

// close closes the file and reports the first error of the run.
func (l *lossLog) close() error {
	err := l.f.Close()
	if l.err != nil {
		return fmt.Errorf("--loss-log: %w", l.err)
	}
	if err != nil {
		return fmt.Errorf("--loss-log: %w", err)
	}
	return nil
}
