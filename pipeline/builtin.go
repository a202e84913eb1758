package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/qkv-dev/qkv/checkpoint"
	"github.com/qkv-dev/qkv/internal/excerpt"
	"github.com/qkv-dev/qkv/models"
)

// BuiltinPrefix names a model embedded in the binary wherever a model
// directory is accepted: builtin:g2p-en.
const BuiltinPrefix = "builtin:"

// builtins holds the embedded models, one directory each, laid out as a
// model directory on disk (config.json, the vocabularies, best.safetensors).
var builtins fs.FS = models.FS

// Builtins lists the names of the models embedded in the binary.
func Builtins() []string {
	if builtins == nil {
		return nil
	}
	entries, err := fs.ReadDir(builtins, ".")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

// LoadBuiltin loads the model embedded in the binary as builtin:NAME, with
// its best weights unless weights names another file of it. It is read
// only: nothing of it can be written back.
func LoadBuiltin(name, weights string) (*Pipeline, error) {
	known := Builtins()
	if name == "" || strings.ContainsAny(name, `/\`) || !slices.Contains(known, name) {
		list := "none"
		if len(known) > 0 {
			list = BuiltinPrefix + strings.Join(known, ", "+BuiltinPrefix)
		}
		return nil, fmt.Errorf("model %s: no such built-in model (this binary holds: %s)", excerpt.Quote(BuiltinPrefix+name), list)
	}
	if members, err := BuiltinMembers(name); err != nil {
		return nil, err
	} else if len(members) > 0 {
		return nil, fmt.Errorf("model %s is a built-in ensemble of %s: predict, eval, g2p and translate-po decode with it, "+
			"but this takes a single model (e.g. %s)", BuiltinPrefix+name, BuiltinPrefix+strings.Join(members, ", "+BuiltinPrefix), BuiltinPrefix+members[0])
	}
	files := embeddedFiles{fsys: builtins, name: name}
	p, err := loadFiles(files)
	if err != nil {
		return nil, err
	}
	if p.Config.Quantized != "" {
		return nil, fmt.Errorf("%s: a built-in model must hold float weights, not %s", p.Dir, p.Config.Quantized)
	}
	if weights == "" {
		weights = BestFile
		if _, err := fs.Stat(builtins, path.Join(name, weights)); err != nil {
			weights = LastFile
		}
	} else if strings.ContainsAny(weights, `/\`) {
		return nil, fmt.Errorf("--weights %s: a built-in model takes only the name of one of its own files", excerpt.Quote(weights))
	}
	b, err := files.read(weights)
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	extra, err := checkpoint.LoadSubsetFrom(files.path(weights), bytes.NewReader(b), int64(len(b)), p.Model.Params())
	if err != nil {
		return nil, err
	}
	if err := refuseUnused(files.path(weights), extra); err != nil {
		return nil, err
	}
	return p, nil
}

// BuiltinMembers returns the built-in models that builtin:NAME decodes
// with when it is a built-in ensemble (its card.json lists members), or
// nil when it is a single model. An ensemble's members must be built-in
// single models.
func BuiltinMembers(name string) ([]string, error) {
	if _, err := fs.Stat(builtins, path.Join(name, "card.json")); err != nil {
		return nil, nil // a model without a card is a single model
	}
	card, err := models.ReadCardFS(builtins, name)
	if err != nil {
		return nil, err
	}
	if len(card.Members) == 0 {
		return nil, nil
	}
	if _, err := fs.Stat(builtins, path.Join(name, "config.json")); err == nil {
		return nil, fmt.Errorf("%s%s: card.json lists ensemble members but the directory holds a model of its own (config.json): it must be one or the other", BuiltinPrefix, name)
	}
	known := Builtins()
	for _, m := range card.Members {
		if m == name {
			return nil, fmt.Errorf("%s%s/card.json: the ensemble lists itself as a member", BuiltinPrefix, name)
		}
		if !slices.Contains(known, m) {
			return nil, fmt.Errorf("%s%s/card.json: member %s is not a built-in model of this binary", BuiltinPrefix, name, excerpt.Quote(m))
		}
		if _, err := fs.Stat(builtins, path.Join(m, "config.json")); err != nil {
			return nil, fmt.Errorf("%s%s/card.json: member %s is not a single model (it has no config.json)", BuiltinPrefix, name, excerpt.Quote(m))
		}
	}
	return card.Members, nil
}

// modelFiles reads the files of one model directory, wherever it is.
type modelFiles interface {
	dir() string                      // the model's name as the user gave it
	read(name string) ([]byte, error) // a file of the directory, by its bare name
	path(name string) string          // what messages call that file
}

// diskFiles is a model directory on disk.
type diskFiles string

func (d diskFiles) dir() string                      { return string(d) }
func (d diskFiles) path(name string) string          { return filepath.Join(string(d), name) }
func (d diskFiles) read(name string) ([]byte, error) { return os.ReadFile(d.path(name)) }

// embeddedFiles is a model embedded in the binary.
type embeddedFiles struct {
	fsys fs.FS
	name string
}

func (e embeddedFiles) dir() string             { return BuiltinPrefix + e.name }
func (e embeddedFiles) path(name string) string { return e.dir() + "/" + name }
func (e embeddedFiles) read(name string) ([]byte, error) {
	b, err := fs.ReadFile(e.fsys, path.Join(e.name, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: the built-in model has no such file: %w", e.path(name), fs.ErrNotExist)
	}
	return b, err
}

// readFile reads a file of the pipeline's model directory.
func (p *Pipeline) readFile(name string) ([]byte, error) {
	if p.files == nil {
		return os.ReadFile(filepath.Join(p.Dir, name))
	}
	return p.files.read(name)
}

// IsBuiltin reports whether dir names a model embedded in the binary.
func IsBuiltin(dir string) bool { return strings.HasPrefix(dir, BuiltinPrefix) }
