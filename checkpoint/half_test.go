package checkpoint

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/tensor"
)

// halfValues returns every finite value of a 16-bit format (decoded by
// from), sorted, with one bit pattern per value (+0 for zero), for the
// reference rounding below.
func halfValues(from func(uint16) float32) (vals []float64, bits []uint16) {
	type vb struct {
		v float64
		b uint16
	}
	var all []vb
	for h := range 1 << 16 {
		v := float64(from(uint16(h)))
		if math.IsNaN(v) || math.IsInf(v, 0) || (v == 0 && h != 0) {
			continue
		}
		all = append(all, vb{v, uint16(h)})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v < all[j].v })
	for _, x := range all {
		vals, bits = append(vals, x.v), append(bits, x.b)
	}
	return vals, bits
}

// nearestHalf is the reference rounding: the finite value nearest to v
// (ties to the even bit pattern), found by search among every value of the
// format, all exact in float64; past the largest value by at least half a
// step (the step the next exponent would have), ±Inf.
func nearestHalf(v float32, vals []float64, bits []uint16, inf uint16) uint16 {
	x := float64(v)
	n := len(vals)
	top := vals[n-1]
	step := top - vals[n-2]
	if x >= top+step/2 {
		return inf
	}
	if x <= -top-step/2 {
		return inf | 0x8000
	}
	i := sort.SearchFloat64s(vals, x)
	switch {
	case i == n:
		return bits[n-1] // above the largest, by less than half a step
	case i == 0 && vals[0] != x:
		return bits[0]
	}
	if vals[i] == x {
		if x == 0 && math.Signbit(x) {
			return 0x8000
		}
		return bits[i]
	}
	lo, hi := vals[i-1], vals[i]
	var b uint16
	switch dl, dh := x-lo, hi-x; {
	case dl < dh:
		b = bits[i-1]
	case dh < dl:
		b = bits[i]
	case bits[i-1]&1 == 0:
		b = bits[i-1]
	default:
		b = bits[i]
	}
	if b&0x7fff == 0 && math.Signbit(x) {
		b = 0x8000 // a negative value rounded to zero is −0
	}
	return b
}

// TestHalfRoundingMatchesReference: ToF16 and ToBF16 round every kind of
// float32 (normal, subnormal, exact midpoints, overflow) to the nearest
// value, ties to even, as the reference search does; every 16-bit value
// survives the trip to float32 and back.
func TestHalfRoundingMatchesReference(t *testing.T) {
	for _, f := range []struct {
		name string
		to   func(float32) uint16
		from func(uint16) float32
		inf  uint16
	}{{"F16", ToF16, FromF16, 0x7c00}, {"BF16", ToBF16, FromBF16, 0x7f80}} {
		vals, bits := halfValues(f.from)
		for h := range 1 << 16 {
			v := f.from(uint16(h))
			if math.IsNaN(float64(v)) {
				if got := f.to(v); !math.IsNaN(float64(f.from(got))) {
					t.Errorf("%s: NaN %#04x came back as %#04x", f.name, h, got)
				}
				continue
			}
			if got := f.to(v); got != uint16(h) {
				t.Errorf("%s: %#04x = %g came back as %#04x", f.name, h, v, got)
			}
		}
		var inputs []float32
		for i := 1; i < len(vals); i++ { // every midpoint, and just either side of it
			mid := float32((vals[i-1] + vals[i]) / 2)
			inputs = append(inputs, mid, math.Nextafter32(mid, -math.MaxFloat32), math.Nextafter32(mid, math.MaxFloat32))
		}
		rng := rand.New(rand.NewPCG(1, 2))
		for range 200000 {
			inputs = append(inputs, math.Float32frombits(rng.Uint32()))
		}
		inputs = append(inputs, 65504, 65519.99, 65520, 1e5, math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, 5.96e-8, 2.98e-8, 2.99e-8)
		bad := 0
		for _, v := range inputs {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				continue
			}
			want := nearestHalf(v, vals, bits, f.inf)
			if got := f.to(v); got != want && bad < 10 {
				bad++
				t.Errorf("%s: %g (%#08x) rounded to %#04x, want %#04x", f.name, v, math.Float32bits(v), got, want)
			}
		}
	}
}

// TestHalfKnownValues pins a few values worked out by hand.
func TestHalfKnownValues(t *testing.T) {
	for _, c := range []struct {
		v   float32
		f16 uint16
		bf  uint16
	}{
		{1, 0x3c00, 0x3f80},
		{-2, 0xc000, 0xc000},
		{0.5, 0x3800, 0x3f00},
		{65504, 0x7bff, 0x4780}, // bf16: 65504 = 1.1111111111 × 2^15 rounds up to 2^16
		{65520, 0x7c00, 0x4780}, // f16: the midpoint to 2^16 rounds to even: +Inf
		{1.0 / (1 << 24), 0x0001, 0x3380},
		{1.0 / (1 << 25), 0x0000, 0x3300}, // f16: half the smallest subnormal, a tie, rounds to even 0
		{1 + 1.0/(1<<8), 0x3c04, 0x3f80},  // bf16: a tie, to even
		{1 + 3.0/(1<<8), 0x3c0c, 0x3f82},  // bf16: a tie, to even (up)
		{float32(math.Copysign(0, -1)), 0x8000, 0x8000},
	} {
		if got := ToF16(c.v); got != c.f16 {
			t.Errorf("ToF16(%g) = %#04x, want %#04x", c.v, got, c.f16)
		}
		if got := ToBF16(c.v); got != c.bf {
			t.Errorf("ToBF16(%g) = %#04x, want %#04x", c.v, got, c.bf)
		}
	}
}

// TestSaveAsHalfRoundTrip: weights saved as F16 or BF16 load back (into
// float32) as the rounded values, exactly, with the dtype in the header and
// half the bytes; Average reads them too.
func TestSaveAsHalfRoundTrip(t *testing.T) {
	dir := t.TempDir()
	ps := params(t)
	// params holds ±MaxFloat32, which rounds to ±Inf in both formats:
	// use values both can store.
	v := ps[4]
	copy(v.Data, []float32{float32(math.Copysign(0, -1)), 1e-6, 60000, -60000, 3.0e-5, 1.0 / 3})
	f32 := filepath.Join(dir, "f32.safetensors")
	if err := Save(f32, ps, nil); err != nil {
		t.Fatal(err)
	}
	for _, d := range []DType{F16, BF16} {
		path := filepath.Join(dir, string(d)+".safetensors")
		if err := SaveAs(path, ps, map[string]string{"dtype": string(d)}, d); err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		got := fresh(ps)
		if err := Load(path, got); err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		for i, p := range ps {
			want := make([]float32, len(p.Data))
			for j, x := range p.Data {
				if d == F16 {
					want[j] = FromF16(ToF16(x))
				} else {
					want[j] = FromBF16(ToBF16(x))
				}
			}
			if !sameBits(got[i].Data, want) {
				t.Errorf("%s: %s loaded as %v, want %v", d, p.Name, got[i].Data, want)
			}
		}
		arrays, meta, err := ReadAll(path)
		if err != nil || meta["dtype"] != string(d) || arrays["enc.w"].DType != d {
			t.Errorf("%s: ReadAll: dtype %q, metadata %v, %v", d, arrays["enc.w"].DType, meta, err)
		}
		values := 0
		for _, p := range ps {
			values += len(p.Data)
		}
		if got, want := dataBytes(t, path), dataBytes(t, f32)/2; got != want || want != 2*values {
			t.Errorf("%s: %d bytes of values, want %d (half of F32's)", d, got, want)
		}
		avg := filepath.Join(dir, "avg-"+string(d)+".safetensors")
		if err := Average(avg, []string{path, path}); err != nil {
			t.Fatalf("%s: average: %v", d, err)
		}
		again := fresh(ps)
		if err := Load(avg, again); err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if !slices.Equal(again[i].Data, got[i].Data) { // −0 averages to +0
				t.Errorf("%s: the average of a file with itself changed %s", d, got[i].Name)
			}
		}
	}
}

// TestSaveAsHalfRefusesWhatItCannotStore: a value too large for F16, or
// not finite, is refused with the tensor, the value and what to use
// instead, and nothing is written; BF16 holds what F16 cannot.
func TestSaveAsHalfRefusesWhatItCannotStore(t *testing.T) {
	dir := t.TempDir()
	w := tensor.NewParam("dec.out.weight", 3)
	copy(w.Data, []float32{1, 70000, 2})
	path := filepath.Join(dir, "w.safetensors")
	err := SaveAs(path, []*tensor.Tensor{w}, nil, F16)
	if err == nil || !strings.Contains(err.Error(), `"dec.out.weight"`) || !strings.Contains(err.Error(), "70000 at index 1 is too large for F16") || !strings.Contains(err.Error(), "bf16") {
		t.Errorf("F16 overflow: err = %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a refused save left a file: %v", err)
	}
	if err := SaveAs(path, []*tensor.Tensor{w}, nil, BF16); err != nil {
		t.Errorf("BF16 holds 70000: %v", err)
	}
	w.Data[1] = float32(math.NaN())
	var buf bytes.Buffer
	if err := WriteAs(&buf, []*tensor.Tensor{w}, nil, BF16); err == nil || !strings.Contains(err.Error(), "is not finite") || buf.Len() != 0 {
		t.Errorf("BF16 NaN: err = %v, %d bytes written", err, buf.Len())
	}
	if err := WriteAs(&buf, []*tensor.Tensor{w}, nil, DType("F8_E4M3")); err == nil || !strings.Contains(err.Error(), "F32, F16 or BF16") {
		t.Errorf("unknown dtype: err = %v", err)
	}
}

// TestLoadHalfFromPyTorchLayout reads F16 and BF16 tensors laid out as
// PyTorch's safetensors writes them. python3-torch is not installed on
// the machine this test was written on, so the bytes are built by hand
// from the formats' definitions (what torch.tensor([1, -2, 0.5, 65504],
// dtype=torch.float16).numpy().tobytes() gives, and likewise for
// bfloat16), not generated by gen_safetensors.py.
func TestLoadHalfFromPyTorchLayout(t *testing.T) {
	header := `{"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]},"h":{"dtype":"F16","shape":[4],"data_offsets":[8,16]}}`
	for len(header)%8 != 0 {
		header += " "
	}
	body := []byte{
		0x80, 0x3f, 0x00, 0xc0, 0x00, 0x3f, 0x49, 0x40, // bf16 1, -2, 0.5, 3.140625
		0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38, 0xff, 0x7b, // f16 1, -2, 0.5, 65504
	}
	path := writeRaw(t, rawFile(header, body))
	b, h := tensor.NewParam("b", 2, 2), tensor.NewParam("h", 4)
	if err := Load(path, []*tensor.Tensor{h, b}); err != nil {
		t.Fatal(err)
	}
	if want := []float32{1, -2, 0.5, 3.140625}; !slices.Equal(b.Data, want) {
		t.Errorf("BF16 = %v, want %v", b.Data, want)
	}
	if want := []float32{1, -2, 0.5, 65504}; !slices.Equal(h.Data, want) {
		t.Errorf("F16 = %v, want %v", h.Data, want)
	}
	// Non-finite half values are refused as float32 ones are.
	for _, c := range []struct{ dtype, bytes string }{{"F16", "\x00\x7c"}, {"F16", "\x01\xfe"}, {"BF16", "\x80\xff"}, {"BF16", "\xc0\x7f"}} {
		path := writeRaw(t, rawFile(`{"w":{"dtype":"`+c.dtype+`","shape":[2],"data_offsets":[0,4]}}`, []byte("\x00\x00"+c.bytes)))
		wantErr(t, c.dtype+" non-finite", Load(path, []*tensor.Tensor{tensor.NewParam("w", 2)}), "w", "1 of 2 values are not finite (the first, at index 1")
	}
}

func TestParseDType(t *testing.T) {
	for in, want := range map[string]DType{"f32": F32, "FP16": F16, "half": F16, "bf16": BF16, "bfloat16": BF16} {
		if got, err := ParseDType(in); err != nil || got != want {
			t.Errorf("ParseDType(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseDType("int8"); err == nil || !strings.Contains(err.Error(), "f32, f16 or bf16") {
		t.Errorf("int8: %v", err)
	}
}

// dataBytes is the size of a safetensors file's data part.
func dataBytes(t *testing.T, path string) int {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return len(raw) - 8 - int(binary.LittleEndian.Uint64(raw))
}
