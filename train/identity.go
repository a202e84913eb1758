package train

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/qkv-dev/qkv/internal/atomicfile"
	"github.com/qkv-dev/qkv/internal/buildinfo"
)

// IdentityFile records what a run is (Identity), beside its checkpoints.
const IdentityFile = "run.json"

// Identity says what a run is: its architecture, the settings a resume
// must not change, with their hash, and fingerprints of the data it trains
// and validates on. It is written when a run starts and checked by every
// resume, so a resume with another architecture, other settings or other
// data is refused with a message that names the difference.
type Identity struct {
	Arch           string          `json:"arch"`
	SettingsSHA256 string          `json:"settings_sha256"` // of Settings as written
	Settings       json.RawMessage `json:"settings"`        // the resolved model, data, prepare and train settings, without those a resume may change
	Train          Fingerprint     `json:"train"`
	Valid          Fingerprint     `json:"valid"`
	ValidHeldOut   bool            `json:"valid_held_out,omitempty"` // the validation pairs were held out of the training file
	Created        time.Time       `json:"created"`
	Program        string          `json:"program,omitempty"` // the qkv build that started the run (buildinfo), for the record: a resume may use another
	// TeacherSHA256 is the fingerprint of the run's teacher
	// (distill.Fingerprint), recorded when it first reads the data, so a
	// resume can tell whether the teacher it is given is still the same.
	TeacherSHA256 string `json:"teacher_sha256,omitempty"`
}

// ResumableKeys are the training options a resume may change: they bound
// or watch the run without changing what any step computes.
var ResumableKeys = []string{"max_steps", "time_budget", "epochs", "save_every", "valid_every", "patience", "keep_snapshots"}

// SettingsJSON is the canonical JSON of a run's settings (any value that
// marshals to a JSON object of sections), with the train section's
// ResumableKeys left out.
func SettingsJSON(settings any) (json.RawMessage, error) {
	raw, err := json.Marshal(settings)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	if tr, ok := m["train"].(map[string]any); ok {
		for _, k := range ResumableKeys {
			delete(tr, k)
		}
	}
	return json.Marshal(m) // maps marshal with sorted keys: canonical
}

// NewIdentity makes the identity of a run from its settings and data.
func NewIdentity(arch string, settings any, trainFP, validFP Fingerprint, heldOut bool) (*Identity, error) {
	raw, err := SettingsJSON(settings)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	return &Identity{Arch: arch, SettingsSHA256: hex.EncodeToString(sum[:]), Settings: raw,
		Train: trainFP, Valid: validFP, ValidHeldOut: heldOut, Created: time.Now().UTC().Truncate(time.Second),
		Program: buildinfo.Read().String()}, nil
}

// Write writes the identity to dir/run.json, atomically.
func (id *Identity) Write(dir string) error {
	raw, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, IdentityFile), append(raw, '\n'))
}

// ReadIdentity reads dir/run.json; a directory without one (a run from
// before identities) gives an error wrapping fs.ErrNotExist.
func ReadIdentity(dir string) (*Identity, error) {
	path := filepath.Join(dir, IdentityFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var id Identity
	if err := json.Unmarshal(raw, &id); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(id.Settings) == 0 {
		return nil, fmt.Errorf("%s: no settings recorded", path)
	}
	sum := sha256.Sum256(id.Settings)
	if hex.EncodeToString(sum[:]) != id.SettingsSHA256 {
		// Re-marshalled by hand? Compare by content, not bytes.
		var v any
		if err := json.Unmarshal(id.Settings, &v); err != nil {
			return nil, fmt.Errorf("%s: settings: %w", path, err)
		}
		canon, _ := json.Marshal(v)
		if sum = sha256.Sum256(canon); hex.EncodeToString(sum[:]) != id.SettingsSHA256 {
			return nil, fmt.Errorf("%s: the settings do not match their hash %s: the file was edited; restore it, or start the run over with --overwrite", path, short(id.SettingsSHA256))
		}
	}
	return &id, nil
}

// IsNotExist reports whether err says a file does not exist.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// Diff is one setting that differs between a run's record and a request.
type Diff struct {
	Key       string // section.key, e.g. train.lr
	Was, Want string // JSON values; "" when absent
}

func (d Diff) String() string {
	was, want := d.Was, d.Want
	if was == "" {
		was = "(unset)"
	}
	if want == "" {
		want = "(unset)"
	}
	return fmt.Sprintf("%s %s → %s", d.Key, was, want)
}

// DiffSettings compares two settings JSON objects (as SettingsJSON makes
// them) key by key, and returns the keys that differ, in order.
func DiffSettings(was, want json.RawMessage) ([]Diff, error) {
	a, err := flatten(was)
	if err != nil {
		return nil, err
	}
	b, err := flatten(want)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var diffs []Diff
	for _, k := range keys {
		if a[k] != b[k] && !(zeroJSON(a[k]) && zeroJSON(b[k])) {
			diffs = append(diffs, Diff{Key: k, Was: a[k], Want: b[k]})
		}
	}
	return diffs, nil
}

// zeroJSON reports whether a JSON value is absent or the zero of its type
// (omitempty leaves those out, so they count as equal).
func zeroJSON(v string) bool {
	switch v {
	case "", "0", "false", `""`, "null", "[]", "{}":
		return true
	}
	return false
}

// flatten turns a JSON object into section.key → canonical JSON value.
func flatten(raw json.RawMessage) (map[string]string, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if o, ok := v.(map[string]any); ok {
			for k, x := range o {
				key := k
				if prefix != "" {
					key = prefix + "." + k
				}
				walk(key, x)
			}
			return
		}
		b, _ := json.Marshal(v)
		out[prefix] = string(b)
	}
	walk("", m)
	return out, nil
}

// Fingerprint identifies a set of pairs as read (not the file they came
// from): their number and a SHA-256 of their text, in order.
type Fingerprint struct {
	Pairs  int    `json:"pairs"`
	SHA256 string `json:"sha256"`
}

func (f Fingerprint) String() string {
	return fmt.Sprintf("%d pairs, sha256 %s", f.Pairs, short(f.SHA256))
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

// Fingerprinter computes a Fingerprint: Add every pair in order, then Sum.
type Fingerprinter struct {
	h hash.Hash
	n int
}

// NewFingerprinter returns an empty Fingerprinter.
func NewFingerprinter() *Fingerprinter { return &Fingerprinter{h: sha256.New()} }

// Add adds one pair. Each side is length-prefixed, so no two different
// lists of pairs hash the same text.
func (f *Fingerprinter) Add(src, tgt string) {
	var n [8]byte
	for _, s := range []string{src, tgt} {
		binary.LittleEndian.PutUint64(n[:], uint64(len(s)))
		f.h.Write(n[:])
		f.h.Write([]byte(s))
	}
	f.n++
}

// Sum is the fingerprint of the pairs added so far.
func (f *Fingerprinter) Sum() Fingerprint {
	return Fingerprint{Pairs: f.n, SHA256: hex.EncodeToString(f.h.Sum(nil))}
}

// DescribeDiffs formats differences for an error message, with the flag of
// each key when flagOf knows it.
func DescribeDiffs(diffs []Diff, flagOf func(key string) string) string {
	var b bytes.Buffer
	for i, d := range diffs {
		if i > 0 {
			b.WriteString("; ")
		}
		if i == 8 {
			fmt.Fprintf(&b, "and %d more", len(diffs)-i)
			break
		}
		b.WriteString(d.String())
		if f := flagOf(d.Key); f != "" {
			fmt.Fprintf(&b, " (%s)", f)
		}
	}
	return strings.TrimSpace(b.String())
}
