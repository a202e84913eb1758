package distill

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"

	"github.com/qkv-dev/qkv/batch"
	"github.com/qkv-dev/qkv/internal/atomicfile"
)

// File is the name of the file in a run directory that keeps the teacher's
// targets, so that a resumed run reads them back in a second instead of
// running the teacher over the training data again (minutes for an
// ensemble), and learns from exactly what it learned from before, even if
// the teacher's files have changed since.
const File = "teacher.targets"

// fileMagic starts a targets file; the last byte is the format's version.
var fileMagic = [8]byte{'q', 'k', 'v', 't', 'g', 't', 's', 1}

// ErrStale says a targets file is sound but was computed for another
// teacher, other training data or another K.
var ErrStale = errors.New("distill: the targets file is for another teacher, other training data or another K")

// Fingerprint is a SHA-256 of what decides a teacher's distributions over
// the student's symbols: each member's configuration, its parameters (their
// names, shapes and values) and its maps from the student's ids, in order.
// Two teachers with equal fingerprints give equal targets.
func Fingerprint(members []Member) (string, error) {
	h := sha256.New()
	for _, m := range members {
		cfg, err := json.Marshal(m.Model.Config())
		if err != nil {
			return "", err
		}
		writeBytes(h, []byte("member"))
		writeBytes(h, cfg)
		for _, p := range m.Model.Params() {
			writeBytes(h, []byte(p.Name))
			ints(h, p.Shape)
			buf := make([]byte, 4*len(p.Data))
			for i, v := range p.Data {
				binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
			}
			h.Write(buf)
		}
		ids32(h, m.Src)
		ids32(h, m.Tgt)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Key names what a set of targets was computed from: the teacher (its
// Fingerprint), the student's training examples (their ids, in order) and
// K. A targets file is used only under the key it was written with.
func Key(teacher string, examples []batch.Example, k int) string {
	h := sha256.New()
	writeBytes(h, []byte("qkv teacher targets"))
	writeBytes(h, []byte(teacher))
	ints(h, []int{k, len(examples)})
	for _, e := range examples {
		ids32(h, e.Src)
		ids32(h, e.Tgt)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func writeBytes(h hash.Hash, b []byte) {
	ints(h, []int{len(b)})
	h.Write(b)
}

func ints(h hash.Hash, v []int) {
	var buf [8]byte
	for _, x := range v {
		binary.LittleEndian.PutUint64(buf[:], uint64(x))
		h.Write(buf[:])
	}
}

func ids32(h hash.Hash, ids []int32) {
	ints(h, []int{len(ids)})
	buf := make([]byte, 4*len(ids))
	for i, id := range ids {
		binary.LittleEndian.PutUint32(buf[4*i:], uint32(id))
	}
	h.Write(buf)
}

// WriteFile writes t to path under key, atomically (a temporary file
// renamed into place). The file holds, little-endian: the magic, the key,
// K and the example and row counts, each example's row count, the ids
// (rows, K) as int32 and the probabilities (rows, K) as float32, then a
// SHA-256 of everything before it.
func (t *Targets) WriteFile(path, key string) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		h := sha256.New()
		bw := bufio.NewWriterSize(io.MultiWriter(w, h), 1<<20)
		b := make([]byte, 0, 8) // bufio keeps the first error, reported by Flush
		put := func(v ...uint64) {
			for _, x := range v {
				bw.Write(binary.LittleEndian.AppendUint64(b, x))
			}
		}
		put32 := func(x uint32) { bw.Write(binary.LittleEndian.AppendUint32(b, x)) }
		bw.Write(fileMagic[:])
		put(uint64(len(key)))
		bw.WriteString(key)
		put(uint64(t.K), uint64(t.Len()), uint64(t.start[t.Len()]))
		for i := range t.Len() {
			put32(uint32(t.start[i+1] - t.start[i]))
		}
		for _, id := range t.ids {
			put32(uint32(id))
		}
		for _, q := range t.p {
			put32(math.Float32bits(q))
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		_, err := w.Write(h.Sum(nil))
		return err
	})
}

// ReadFile reads targets that WriteFile wrote under key, for a student
// whose target vocabulary has tgtVocab symbols. A file written under
// another key gives an error wrapping ErrStale; a damaged one (cut short,
// altered) an error that says what is wrong.
func ReadFile(path, key string, tgtVocab int) (*Targets, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("distill: %s: %s", path, fmt.Sprintf(format, args...))
	}
	if len(raw) < len(fileMagic)+sha256.Size || !bytes.Equal(raw[:len(fileMagic)-1], fileMagic[:len(fileMagic)-1]) {
		return nil, bad("not a qkv teacher targets file")
	}
	if raw[len(fileMagic)-1] != fileMagic[len(fileMagic)-1] {
		return nil, bad("a targets file of format %d, not %d (another qkv wrote it)", raw[len(fileMagic)-1], fileMagic[len(fileMagic)-1])
	}
	body, sum := raw[:len(raw)-sha256.Size], raw[len(raw)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, bad("the checksum does not match: the file was cut short or altered")
	}
	rest := body[len(fileMagic):]
	u64 := func() uint64 { // 0 when the file is too short: the size checks below fail
		if len(rest) < 8 {
			rest = nil
			return 0
		}
		v := binary.LittleEndian.Uint64(rest)
		rest = rest[8:]
		return v
	}
	keyLen := u64()
	if keyLen > uint64(len(rest)) {
		return nil, bad("a key of %d bytes in %d", keyLen, len(rest))
	}
	if string(rest[:keyLen]) != key {
		return nil, fmt.Errorf("%w (%s)", ErrStale, path)
	}
	rest = rest[keyLen:]
	K, n, rows := u64(), u64(), u64()
	size := uint64(len(rest))
	if K < 1 || K > uint64(tgtVocab) || n > size/4 || rows > size/(8*K) || size != 4*n+8*rows*K {
		return nil, bad("K = %d, %d examples and %d rows do not fit its %d bytes and %d target symbols", K, n, rows, size, tgtVocab)
	}
	t := &Targets{K: int(K), start: make([]int, n+1), ids: make([]int32, rows*K), p: make([]float32, rows*K)}
	u32 := func() uint32 {
		v := binary.LittleEndian.Uint32(rest)
		rest = rest[4:]
		return v
	}
	for i := range n {
		t.start[i+1] = t.start[i] + int(u32())
	}
	if uint64(t.start[n]) != rows {
		return nil, bad("its examples hold %d rows, not %d", t.start[n], rows)
	}
	for i := range t.ids {
		t.ids[i] = int32(u32())
	}
	for i := range t.p {
		t.p[i] = math.Float32frombits(u32())
	}
	for i, id := range t.ids {
		if id < 0 || int(id) >= tgtVocab || !(t.p[i] >= 0 && t.p[i] <= 1) {
			return nil, bad("row %d holds symbol %d with probability %v (the vocabulary has %d symbols)", i/int(K), id, t.p[i], tgtVocab)
		}
	}
	return t, nil
}
