package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/tensor"
)

// params returns a fixed set of parameters: a matrix, a 3-d tensor, a
// scalar, an empty tensor and a vector with awkward values.
func params(t *testing.T) []*tensor.Tensor {
	t.Helper()
	a := tensor.NewParam("enc.w", 3, 4)
	b := tensor.NewParam("enc.k", 2, 3, 2)
	s := tensor.NewParam("scale")
	e := tensor.NewParam("empty", 0, 5)
	v := tensor.NewParam("dec.bias", 6)
	for i := range a.Data {
		a.Data[i] = float32(i)*0.37 - 1
	}
	for i := range b.Data {
		b.Data[i] = float32(math.Sin(float64(i)))
	}
	s.Data[0] = 0.125
	copy(v.Data, []float32{float32(math.Copysign(0, -1)), math.SmallestNonzeroFloat32, math.MaxFloat32,
		-math.MaxFloat32, math.Float32frombits(0x00800000), 1.0 / 3}) // −0, subnormal, ±max, smallest normal (NaN and ±Inf: TestNonFinite)
	return []*tensor.Tensor{a, b, s, e, v}
}

// fresh returns parameters with the same names and shapes, filled with a
// sentinel value.
func fresh(ps []*tensor.Tensor) []*tensor.Tensor {
	out := make([]*tensor.Tensor, len(ps))
	for i, p := range ps {
		out[i] = tensor.NewParam(p.Name, p.Shape...)
		for j := range out[i].Data {
			out[i].Data[j] = 42
		}
	}
	return out
}

// sameBits reports whether two tensors hold bit-identical values.
func sameBits(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
}

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	ps := params(t)
	meta := map[string]string{"arch": "transformer", "step": "1200", "quote\"and\\": "ünïcode"}
	if err := Save(path, ps, meta); err != nil {
		t.Fatal(err)
	}
	got := fresh(ps)
	if err := Load(path, got); err != nil {
		t.Fatal(err)
	}
	for i := range ps {
		if !sameBits(got[i].Data, ps[i].Data) {
			t.Errorf("%s: loaded %v, saved %v", ps[i].Name, got[i].Data, ps[i].Data)
		}
	}
	// Load fills by name, so the order of the parameters does not matter.
	rev := fresh(ps)
	slices.Reverse(rev)
	if err := Load(path, rev); err != nil {
		t.Fatal(err)
	}
	if !sameBits(rev[0].Data, ps[len(ps)-1].Data) {
		t.Error("loading in another order gave other values")
	}
	m, err := ReadMetadata(path)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(m) != fmt.Sprint(meta) {
		t.Errorf("metadata %v, want %v", m, meta)
	}
	all, m2, err := ReadAll(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(ps) || fmt.Sprint(m2) != fmt.Sprint(meta) {
		t.Fatalf("ReadAll: %d tensors, metadata %v", len(all), m2)
	}
	for _, p := range ps {
		a := all[p.Name]
		if !slices.Equal(a.Shape, p.Shape) || !sameBits(a.Data, p.Data) {
			t.Errorf("ReadAll %s: shape %v data %v, want %v %v", p.Name, a.Shape, a.Data, p.Shape, p.Data)
		}
	}
	// Saving the same tensors again gives the same bytes (deterministic).
	first, _ := os.ReadFile(path)
	if err := Save(path, ps, meta); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(path)
	if !bytes.Equal(first, second) {
		t.Error("two saves of the same tensors differ")
	}
	if (8+binary.LittleEndian.Uint64(first))%8 != 0 {
		t.Error("data part is not 8-byte aligned")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after saving, want only the checkpoint", len(entries))
	}
}

func TestSaveRejectsBadTensors(t *testing.T) {
	dir := t.TempDir()
	a := tensor.NewParam("a", 2)
	cases := []struct {
		name    string
		tensors []*tensor.Tensor
		want    string
	}{
		{"empty name", []*tensor.Tensor{a, tensor.NewParam("", 3)}, "has no name"},
		{"duplicate", []*tensor.Tensor{a, tensor.NewParam("a", 3)}, `two tensors are named "a"`},
		{"reserved", []*tensor.Tensor{tensor.NewParam("__metadata__", 1)}, "reserved"},
		{"size", []*tensor.Tensor{{Name: "bad", Data: make([]float32, 5), Shape: []int{2, 3}}}, `tensor "bad" has 5 values for shape [2 3]`},
		{"nil", []*tensor.Tensor{nil}, "nil"},
	}
	for _, c := range cases {
		path := filepath.Join(dir, c.name+".safetensors")
		err := Save(path, c.tensors, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to contain %q", c.name, err, c.want)
		}
		if _, statErr := os.Stat(path); !os.IsNotExist(statErr) {
			t.Errorf("%s: a file was written despite the error", c.name)
		}
	}
}

// pyExpect mirrors testdata/python.json.
type pyExpect struct {
	Metadata map[string]string `json:"metadata"`
	Tensors  map[string]struct {
		Shape []int     `json:"shape"`
		Data  []float64 `json:"data"`
	} `json:"tensors"`
}

// TestPythonFile loads a file laid out as Python's safetensors writes it
// (testdata/gen_safetensors.py), and checks that writing the same tensors
// from Go gives the very same bytes.
func TestPythonFile(t *testing.T) {
	raw, err := os.ReadFile("testdata/python.json")
	if err != nil {
		t.Fatal(err)
	}
	var want pyExpect
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	var ps []*tensor.Tensor
	for name, w := range want.Tensors {
		p := tensor.NewParam(name, w.Shape...)
		ps = append(ps, p)
	}
	if err := Load("testdata/python.safetensors", ps); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		w := want.Tensors[p.Name]
		exp := make([]float32, len(w.Data))
		for i, v := range w.Data {
			exp[i] = float32(v)
		}
		if !sameBits(p.Data, exp) {
			t.Errorf("%s = %v, want %v", p.Name, p.Data, exp)
		}
	}
	meta, err := ReadMetadata("testdata/python.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(meta) != fmt.Sprint(want.Metadata) {
		t.Errorf("metadata %v, want %v", meta, want.Metadata)
	}
	// Python orders tensors by name (one dtype); so do we here.
	slices.SortFunc(ps, func(a, b *tensor.Tensor) int { return strings.Compare(a.Name, b.Name) })
	var buf bytes.Buffer
	if err := Write(&buf, ps, want.Metadata); err != nil {
		t.Fatal(err)
	}
	pyBytes, _ := os.ReadFile("testdata/python.safetensors")
	if !bytes.Equal(buf.Bytes(), pyBytes) {
		t.Errorf("Go writes\n%q\nPython wrote\n%q", buf.Bytes(), pyBytes)
	}
}

// rawFile builds a safetensors file from a header string and a body,
// padding nothing: tests use it to make malformed files.
func rawFile(header string, body []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, body...)
}

func writeRaw(t *testing.T, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bad.safetensors")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// wantErr checks that err is a checkpoint *Error naming tensor (or none)
// and describing the problem with the given words.
func wantErr(t *testing.T, what string, err error, tensorName, words string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", what)
		return
	}
	var ce *Error
	if !errors.As(err, &ce) {
		t.Errorf("%s: error %q is not a *checkpoint.Error", what, err)
		return
	}
	if ce.Tensor != tensorName {
		t.Errorf("%s: error %q names tensor %q, want %q", what, err, ce.Tensor, tensorName)
	}
	if !strings.Contains(err.Error(), words) {
		t.Errorf("%s: error %q does not say %q", what, err, words)
	}
	if tensorName != "" && !strings.Contains(err.Error(), fmt.Sprintf("%q", tensorName)) {
		t.Errorf("%s: error %q does not show the tensor name", what, err)
	}
}

// TestTruncated cuts a valid file at many points: every cut is an error
// that says what is wrong, and a cut in the data names the first tensor
// whose data is incomplete. The target parameters stay untouched.
func TestTruncated(t *testing.T) {
	ps := params(t)
	var buf bytes.Buffer
	if err := Write(&buf, ps, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	full := buf.Bytes()
	n := int(binary.LittleEndian.Uint64(full))
	data := 8 + n
	// Byte ranges of each tensor's data in the file, in order.
	var ends []int
	at := data
	for _, p := range ps {
		at += 4 * len(p.Data)
		ends = append(ends, at)
	}
	firstCut := func(size int) string { // the tensor whose data a cut at size truncates
		for i, e := range ends {
			if size < e {
				return ps[i].Name
			}
		}
		return ""
	}
	cuts := []int{0, 1, 7, 8, 9, data / 2, data - 1, data, data + 1, data + 4*12, data + 4*12 + 3, len(full) - 4, len(full) - 1}
	for _, size := range cuts {
		what := fmt.Sprintf("cut at %d of %d", size, len(full))
		path := writeRaw(t, full[:size])
		got := fresh(ps)
		err := Load(path, got)
		switch {
		case size < 8:
			wantErr(t, what, err, "", "too short for the 8-byte header size")
		case size < data:
			wantErr(t, what, err, "", "truncated")
		default:
			wantErr(t, what, err, firstCut(size), "truncated")
		}
		for _, p := range got {
			for _, v := range p.Data {
				if v != 42 {
					t.Fatalf("%s: parameter %s modified by a failed load", what, p.Name)
				}
			}
		}
	}
}

func TestCorruptHeaders(t *testing.T) {
	body8 := make([]byte, 8)
	huge := binary.LittleEndian.AppendUint64(nil, 1<<62)
	cases := []struct {
		name   string
		file   []byte
		tensor string
		words  string
	}{
		{"header size absurd", append(huge, `{}`...), "", "exceeds the limit"},
		{"header size past the end", append(binary.LittleEndian.AppendUint64(nil, 50_000_000), `{"a":{}}`...), "", "truncated"},
		{"not JSON", rawFile(`{"a":{"dtype":"F32",,}}`, nil), "a", "bad header entry"},
		{"not an object", rawFile(`["a"]   `, nil), "", "does not start with '{'"},
		{"unterminated", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}`, body8), "", "not valid JSON"},
		{"trailing JSON", rawFile(`{}{}`, nil), "", "data after its JSON object"},
		{"duplicate name", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, body8), "a", "appears twice"},
		{"no dtype", rawFile(`{"a":{"shape":[2],"data_offsets":[0,8]}}`, body8), "a", "no dtype"},
		{"no shape", rawFile(`{"a":{"dtype":"F32","data_offsets":[0,8]}}`, body8), "a", "no shape"},
		{"no offsets", rawFile(`{"a":{"dtype":"F32","shape":[2]}}`, body8), "a", "no data_offsets"},
		{"three offsets", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}}`, body8), "a", "3 values, want 2"},
		{"negative dim", rawFile(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, body8), "a", "invalid dimension -2"},
		{"fractional dim", rawFile(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}}`, body8), "a", "bad header entry"},
		{"unknown dtype", rawFile(`{"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}`, body8), "a", `unknown dtype "F33"`},
		{"offsets vs shape", rawFile(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, body8), "a", "span 8 bytes, but F32 [3] needs 12"},
		{"offsets reversed", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}`, body8), "a", "end before they begin"},
		{"offsets out of range", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, body8), "a", "runs past the end"},
		{"overlap", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, body8), "b", `overlaps tensor "a"`},
		{"gap", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, body8), "a", "4 unused bytes before it"},
		{"trailing bytes", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, body8), "", "4 unused bytes after"},
		{"huge shape", rawFile(`{"a":{"dtype":"F32","shape":[2147483647,2147483647,2147483647],"data_offsets":[0,8]}}`, body8), "a", "too large"},
		{"metadata not strings", rawFile(`{"__metadata__":{"k":1}}`, nil), "", "must map strings to strings"},
	}
	for _, c := range cases {
		path := writeRaw(t, c.file)
		_, _, err := ReadAll(path)
		wantErr(t, c.name, err, c.tensor, c.words)
	}
}

// TestHugeHeaderSizeDoesNotAllocate: a corrupt size field just under the
// limit, in a tiny file, is rejected before the header buffer is made.
func TestHugeHeaderSizeDoesNotAllocate(t *testing.T) {
	path := writeRaw(t, append(binary.LittleEndian.AppendUint64(nil, MaxHeaderSize-8), `{}`...))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err := ReadAll(path)
	runtime.ReadMemStats(&after)
	wantErr(t, "size near the limit", err, "", "truncated")
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("rejecting the header allocated %d bytes", d)
	}
}

// TestLoadMismatches covers what a valid file can still get wrong for the
// model: a wrong shape, a wrong dtype, a missing or an extra tensor.
func TestLoadMismatches(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	ps := params(t)
	if err := Save(path, ps, nil); err != nil {
		t.Fatal(err)
	}

	wrong := fresh(ps)
	wrong[1] = tensor.NewParam("enc.k", 3, 2, 2)
	wantErr(t, "wrong shape", Load(path, wrong), "enc.k", "shape [2 3 2] in the file, want [3 2 2]")
	if wrong[0].Data[0] != 42 {
		t.Error("a failed load modified an earlier parameter")
	}

	missing := append(fresh(ps), tensor.NewParam("dec.out", 4))
	wantErr(t, "missing", Load(path, missing), "dec.out", "missing from the file")

	fewer := fresh(ps)[:3]
	wantErr(t, "extra", Load(path, fewer), "empty", "unexpected tensor")
	extra, err := LoadSubset(path, fewer)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(extra, []string{"empty", "dec.bias"}) {
		t.Errorf("LoadSubset extra = %v", extra)
	}
	if !sameBits(fewer[0].Data, ps[0].Data) {
		t.Error("LoadSubset did not load")
	}

	dup := []*tensor.Tensor{tensor.NewParam("scale"), tensor.NewParam("scale")}
	if _, err := LoadSubset(path, dup); err == nil || !strings.Contains(err.Error(), "two parameters") {
		t.Errorf("duplicate parameter names: err = %v", err)
	}

	i32 := writeRaw(t, rawFile(`{"w":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}`, make([]byte, 16)))
	wantErr(t, "wrong dtype", Load(i32, []*tensor.Tensor{tensor.NewParam("w", 2, 2)}), "w", "dtype I32, want F32, F16, BF16 or I8")
	_, _, err = ReadAll(i32)
	wantErr(t, "wrong dtype ReadAll", err, "w", "dtype I32, want F32, F16, BF16 or I8")

	if err := Load(filepath.Join(dir, "absent.safetensors"), ps); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v, want ErrNotExist", err)
	}
}

// failAfter passes through n bytes, then fails: a writer dying midway.
type failAfter struct {
	w io.Writer
	n int
}

var errDisk = errors.New("simulated disk failure")

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		k, _ := f.w.Write(p[:f.n])
		f.n = 0
		return k, errDisk
	}
	f.n -= len(p)
	return f.w.Write(p)
}

// TestInterruptedWrite: a writer that fails (or panics) midway leaves the
// previous checkpoint intact and no temporary file behind.
func TestInterruptedWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	old := params(t)
	if err := Save(path, old, map[string]string{"version": "old"}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)

	updated := fresh(old)
	for _, p := range updated {
		for i := range p.Data {
			p.Data[i] = -7
		}
	}
	for _, cut := range []int{0, 5, 100, len(before) - 3} {
		err := WriteFileAtomic(path, func(w io.Writer) error {
			return Write(&failAfter{w: w, n: cut}, updated, map[string]string{"version": "new"})
		})
		if !errors.Is(err, errDisk) {
			t.Fatalf("cut %d: err = %v, want the writer's error", cut, err)
		}
		after, _ := os.ReadFile(path)
		if !bytes.Equal(before, after) {
			t.Fatalf("cut %d: the previous checkpoint changed", cut)
		}
		got := fresh(old)
		if err := Load(path, got); err != nil {
			t.Fatalf("cut %d: previous checkpoint no longer loads: %v", cut, err)
		}
		onlyTarget(t, dir)
	}

	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic did not propagate")
			}
		}()
		WriteFileAtomic(path, func(w io.Writer) error {
			w.Write([]byte("partial"))
			panic("writer crashed")
		})
	}()
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("a panicking writer changed the previous checkpoint")
	}
	onlyTarget(t, dir)

	// A successful write replaces the file and keeps its mode.
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Save(path, updated, nil); err != nil {
		t.Fatal(err)
	}
	got := fresh(old)
	if err := Load(path, got); err != nil || got[0].Data[0] != -7 {
		t.Fatalf("after a successful save: err %v, value %v", err, got[0].Data[0])
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v after replacing, want 0600", fi.Mode().Perm())
	}
	onlyTarget(t, dir)
}

func onlyTarget(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("directory holds %v, want only the checkpoint", names)
	}
}

func TestWriteFileAtomicNewFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub.txt")
	if err := WriteFileAtomic(path, func(w io.Writer) error { _, err := io.WriteString(w, "hello"); return err }); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if string(b) != "hello" {
		t.Errorf("content %q", b)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	if err := WriteFileAtomic(filepath.Join(dir, "missing", "x"), func(io.Writer) error { return nil }); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
	if err := WriteFileAtomic(dir, func(io.Writer) error { return nil }); err == nil {
		t.Error("replacing a directory succeeded")
	}
}

// TestNonFinite: Save writes NaN and ±Inf bit for bit, but Load, LoadSubset
// and ReadAll refuse them, naming the file, the tensor and how many values
// are bad: NaN weights used to load and decode to "<pad> <pad> …".
func TestNonFinite(t *testing.T) {
	nan := math.Float32frombits(0x7fc00123) // a NaN with a payload
	for _, tc := range []struct {
		name string
		bad  []float32
		want string
	}{
		{"NaN", []float32{nan}, "1 of 6 values are not finite (the first, at index 2, is NaN)"},
		{"+Inf", []float32{float32(math.Inf(1))}, "1 of 6 values are not finite (the first, at index 2, is +Inf)"},
		{"-Inf and NaN", []float32{float32(math.Inf(-1)), nan, nan}, "3 of 6 values are not finite (the first, at index 2, is -Inf)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "best.safetensors")
			ps := params(t)
			v := ps[len(ps)-1] // dec.bias
			copy(v.Data[2:], tc.bad)
			if err := Save(path, ps, nil); err != nil {
				t.Fatal(err)
			}
			// The writer is faithful: the bits are in the file.
			raw, _ := os.ReadFile(path)
			if !bytes.Contains(raw, binary.LittleEndian.AppendUint32(nil, math.Float32bits(tc.bad[0]))) {
				t.Fatal("the non-finite value was not written")
			}
			wantErr(t, "Load", Load(path, fresh(ps)), "dec.bias", tc.want)
			_, err := LoadSubset(path, fresh(ps)[len(ps)-1:])
			wantErr(t, "LoadSubset", err, "dec.bias", tc.want)
			_, _, err = ReadAll(path)
			wantErr(t, "ReadAll", err, "dec.bias", tc.want)
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Errorf("error does not name the file: %v", err)
			}
			// An average of it is refused too, naming the input.
			err = Average(filepath.Join(dir, "average.safetensors"), []string{path})
			wantErr(t, "Average", err, "dec.bias", "not finite")
			if _, statErr := os.Stat(filepath.Join(dir, "average.safetensors")); statErr == nil {
				t.Error("Average wrote an output from non-finite input")
			}
		})
	}
	// A tensor spanning several read chunks reports the right index.
	big := tensor.NewParam("big", 3, 70_000)
	big.Data[150_001] = float32(math.Inf(1))
	path := filepath.Join(t.TempDir(), "big.safetensors")
	if err := Save(path, []*tensor.Tensor{big}, nil); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "big", Load(path, fresh([]*tensor.Tensor{big})), "big", "1 of 210000 values are not finite (the first, at index 150001, is +Inf)")
}
