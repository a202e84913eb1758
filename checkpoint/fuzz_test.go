package checkpoint

import (
	"bytes"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/tensor"
)

// FuzzReadSafetensors feeds arbitrary bytes to the safetensors reader: it
// never panics, every error names the file, what it returns is never larger
// than the input (no allocation from a size field alone), and a file that
// reads back is written again to the same tensors and metadata.
func FuzzReadSafetensors(f *testing.F) {
	var buf bytes.Buffer
	ps := params(&testing.T{})
	if err := Write(&buf, ps, map[string]string{"step": "7"}); err != nil {
		f.Fatal(err)
	}
	whole := slices.Clone(buf.Bytes())
	f.Add(whole)
	f.Add(whole[:len(whole)-3])
	buf.Reset()
	Write(&buf, ps[:1], nil)
	f.Add(slices.Clone(buf.Bytes()))
	if py, err := os.ReadFile("testdata/python.safetensors"); err == nil {
		f.Add(py)
	}
	f.Add(rawFile(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, []byte{0, 0, 0xc0, 0x7f})) // a NaN
	f.Add(rawFile(`{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"__metadata__":{"a":"b"}}`, make([]byte, 4)))
	f.Add(rawFile(`{"w":{"dtype":"BF16","shape":[3],"data_offsets":[0,6]}}`, []byte{0x80, 0x3f, 0x80, 0x7f, 0, 0})) // 1, +Inf, 0
	f.Add(rawFile(`{"a":{"dtype":"F32","shape":[0,2147483647,2147483647],"data_offsets":[0,0]}}`, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "f.safetensors"
		named := func(err error) {
			t.Helper()
			if !strings.HasPrefix(err.Error(), "checkpoint "+name) {
				t.Fatalf("error without the file name: %v", err)
			}
		}
		r := bytes.NewReader(data)
		h, err := readHeader(name, r, int64(len(data)))
		if err != nil {
			named(err)
			return
		}
		// Loading parameters named after the file's F32 tensors, and one
		// that is not in it.
		var into []*tensor.Tensor
		for _, e := range h.entries {
			if d := DType(e.dtype); d.readable() && e.name != "" && len(into) < 4 {
				p := tensor.FromData(make([]float32, (e.end-e.begin)/uint64(d.size())), e.shape...)
				p.Name = e.name
				into = append(into, p)
			}
		}
		if _, err := loadSubset(name, r, h, into, func(string) bool { return true }); err != nil {
			named(err)
		}
		if _, in := h.byName["absent.weight"]; in {
			return
		}
		if _, err := loadSubset(name, r, h, []*tensor.Tensor{tensor.NewParam("absent.weight", 2, 2)}, nil); err == nil {
			t.Fatal("a missing tensor loaded")
		}
		arrays, meta, err := readAll(name, r, h)
		if err != nil {
			named(err)
			return
		}
		total := 0
		for _, a := range arrays {
			total += a.DType.size() * len(a.Data)
			for _, v := range a.Data {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatal("a non-finite value was read")
				}
			}
		}
		if total > len(data) {
			t.Fatalf("read %d bytes of values from a %d-byte file", total, len(data))
		}
		// Write what was read and read it again: the same tensors.
		var ts []*tensor.Tensor
		for _, e := range h.entries {
			if e.name == "" {
				return // readable, but not writable: Write needs names
			}
			a := arrays[e.name]
			x := tensor.FromData(a.Data, a.Shape...)
			x.Name = e.name
			ts = append(ts, x)
		}
		var out bytes.Buffer
		if err := Write(&out, ts, meta); err != nil { // F32: every value read (from any dtype) is exact
			t.Fatalf("cannot write what was read: %v", err)
		}
		h2, err := readHeader("g", bytes.NewReader(out.Bytes()), int64(out.Len()))
		if err != nil {
			t.Fatalf("cannot read what was written: %v", err)
		}
		again, meta2, err := readAll("g", bytes.NewReader(out.Bytes()), h2)
		if err != nil || len(again) != len(arrays) || len(meta2) != len(meta) {
			t.Fatalf("round trip: %d → %d tensors, %v", len(arrays), len(again), err)
		}
		for name, a := range arrays {
			b := again[name]
			if !slices.Equal(a.Shape, b.Shape) || !sameBits(a.Data, b.Data) {
				t.Fatalf("tensor %q changed on the round trip", name)
			}
		}
		for k, v := range meta {
			if meta2[k] != v {
				t.Fatalf("metadata %q changed on the round trip", k)
			}
		}
	})
}
