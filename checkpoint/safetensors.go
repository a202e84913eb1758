package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"slices"
	"sort"
	"strconv"

	"github.com/qkv-dev/qkv/tensor"
)

// MaxHeaderSize bounds the JSON header, as the reference implementation
// does: a corrupt size field is rejected before anything is allocated.
const MaxHeaderSize = 100_000_000

// metadataKey is the header entry that holds string metadata.
const metadataKey = "__metadata__"

// Error is a problem with a checkpoint file. Tensor is the name of the
// tensor at fault, or empty when the problem is with the file as a whole.
type Error struct {
	Path    string
	Tensor  string
	Problem string
}

func (e *Error) Error() string {
	if e.Tensor != "" {
		return fmt.Sprintf("checkpoint %s: tensor %q: %s", e.Path, e.Tensor, e.Problem)
	}
	return fmt.Sprintf("checkpoint %s: %s", e.Path, e.Problem)
}

func errorf(path, name, format string, args ...any) *Error {
	return &Error{Path: path, Tensor: name, Problem: fmt.Sprintf(format, args...)}
}

// dtypeSizes are the element sizes of the safetensors dtypes, so that files
// holding other dtypes can still be validated and reported precisely.
var dtypeSizes = map[string]uint64{
	"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
	"I16": 2, "U16": 2, "F16": 2, "BF16": 2,
	"I32": 4, "U32": 4, "F32": 4,
	"I64": 8, "U64": 8, "F64": 8,
}

// Array is one tensor read by ReadAll: its shape and row-major values.
type Array struct {
	Shape []int
	Data  []float32
	DType DType // how the file stored the values
}

// entry is one tensor of a parsed header.
type entry struct {
	name       string
	dtype      string
	shape      []int
	begin, end uint64 // offsets into the data part
}

// header is a parsed and validated file header.
type header struct {
	entries  []entry // in header order
	byName   map[string]int
	metadata map[string]string
	dataAt   int64 // file offset of the data part
}

// Save writes tensors (which need unique, non-empty names) and metadata
// to path as a safetensors file, atomically (see WriteFileAtomic). The
// tensors are stored in the order given.
func Save(path string, tensors []*tensor.Tensor, metadata map[string]string) error {
	return SaveAs(path, tensors, metadata, F32)
}

// SaveAs is Save with the values stored as dtype (F32, F16 or BF16; see
// DType). A value that is not finite, or too large for dtype, is an error
// naming the tensor, and nothing is written.
func SaveAs(path string, tensors []*tensor.Tensor, metadata map[string]string, dtype DType) error {
	if err := checkTensors(tensors); err != nil {
		return fmt.Errorf("checkpoint: save %s: %w", path, err)
	}
	if !dtype.uniform() {
		return fmt.Errorf("checkpoint: save %s: cannot store dtype %q (F32, F16 or BF16)", path, dtype)
	}
	return WriteFileAtomic(path, func(w io.Writer) error { return WriteAs(w, tensors, metadata, dtype) })
}

// SaveMixed is Save with each tensor stored as its own dtype: dtypes[i]
// for tensors[i], one of F32, F16, BF16 or I8. An I8 tensor must hold
// integers in −127…127 (quantized weights; qkv quantize writes their
// scales as F32 tensors beside them). A value a dtype cannot hold is an
// error naming the tensor, and nothing is written.
func SaveMixed(path string, tensors []*tensor.Tensor, dtypes []DType, metadata map[string]string) error {
	if err := checkTensors(tensors); err != nil {
		return fmt.Errorf("checkpoint: save %s: %w", path, err)
	}
	if len(dtypes) != len(tensors) {
		return fmt.Errorf("checkpoint: save %s: %d dtypes for %d tensors", path, len(dtypes), len(tensors))
	}
	if err := checkValues(tensors, dtypes); err != nil {
		return fmt.Errorf("checkpoint: save %s: %w", path, err)
	}
	return WriteFileAtomic(path, func(w io.Writer) error { return writeMixed(w, tensors, dtypes, metadata) })
}

// checkValues refuses a value its tensor's dtype cannot hold.
func checkValues(tensors []*tensor.Tensor, dtypes []DType) error {
	for i, t := range tensors {
		switch d := dtypes[i]; d {
		case F32:
		case F16, BF16:
			if err := checkHalf(t.Name, t.Data, d); err != nil {
				return err
			}
		case I8:
			for j, v := range t.Data {
				if v != float32(int8(v)) || v < -127 {
					return fmt.Errorf("tensor %q: value %g at index %d is not an integer in −127…127, so it cannot be stored as I8", t.Name, v, j)
				}
			}
		default:
			return fmt.Errorf("tensor %q: cannot store dtype %q (F32, F16, BF16 or I8)", t.Name, d)
		}
	}
	return nil
}

// checkTensors validates names and sizes before anything is written.
func checkTensors(tensors []*tensor.Tensor) error {
	seen := make(map[string]bool, len(tensors))
	for i, t := range tensors {
		switch {
		case t == nil:
			return fmt.Errorf("tensor %d is nil", i)
		case t.Name == "":
			return fmt.Errorf("tensor %d (shape %v) has no name", i, t.Shape)
		case t.Name == metadataKey:
			return fmt.Errorf("tensor %d: the name %q is reserved", i, metadataKey)
		case seen[t.Name]:
			return fmt.Errorf("two tensors are named %q", t.Name)
		}
		seen[t.Name] = true
		n := 1
		for _, d := range t.Shape {
			if d < 0 {
				return fmt.Errorf("tensor %q has a negative dimension in shape %v", t.Name, t.Shape)
			}
			n *= d
		}
		if n != len(t.Data) {
			return fmt.Errorf("tensor %q has %d values for shape %v", t.Name, len(t.Data), t.Shape)
		}
	}
	return nil
}

// Write encodes tensors and metadata in the safetensors format to w. Save
// is Write through WriteFileAtomic; Write is for other destinations.
func Write(w io.Writer, tensors []*tensor.Tensor, metadata map[string]string) error {
	return WriteAs(w, tensors, metadata, F32)
}

// WriteAs is Write with the values stored as dtype (F32, F16 or BF16),
// rounded to nearest, ties to even. A value that is not finite or is too
// large for dtype is an error naming the tensor, found before anything is
// written.
func WriteAs(w io.Writer, tensors []*tensor.Tensor, metadata map[string]string, dtype DType) error {
	if err := checkTensors(tensors); err != nil {
		return err
	}
	if !dtype.uniform() {
		return fmt.Errorf("checkpoint: cannot store dtype %q (F32, F16 or BF16)", dtype)
	}
	dtypes := make([]DType, len(tensors))
	for i := range dtypes {
		dtypes[i] = dtype
	}
	if err := checkValues(tensors, dtypes); err != nil {
		return err
	}
	return writeMixed(w, tensors, dtypes, metadata)
}

// writeMixed writes tensors[i] as dtypes[i] (checked by checkValues).
func writeMixed(w io.Writer, tensors []*tensor.Tensor, dtypes []DType, metadata map[string]string) error {
	var h bytes.Buffer
	h.WriteByte('{')
	if len(metadata) > 0 {
		h.WriteString(`"__metadata__":{`)
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				h.WriteByte(',')
			}
			writeJSONString(&h, k)
			h.WriteByte(':')
			writeJSONString(&h, metadata[k])
		}
		h.WriteByte('}')
	}
	var off uint64
	for i, t := range tensors {
		if i > 0 || len(metadata) > 0 {
			h.WriteByte(',')
		}
		writeJSONString(&h, t.Name)
		dtype := dtypes[i]
		h.WriteString(`:{"dtype":"` + string(dtype) + `","shape":[`)
		for j, d := range t.Shape {
			if j > 0 {
				h.WriteByte(',')
			}
			h.WriteString(strconv.Itoa(d))
		}
		n := uint64(dtype.size()) * uint64(len(t.Data))
		fmt.Fprintf(&h, `],"data_offsets":[%d,%d]}`, off, off+n)
		off += n
	}
	h.WriteByte('}')
	// Pad with spaces so the data starts 8-byte aligned, as Python does.
	for h.Len()%8 != 0 {
		h.WriteByte(' ')
	}
	var size [8]byte
	binary.LittleEndian.PutUint64(size[:], uint64(h.Len()))
	if _, err := w.Write(size[:]); err != nil {
		return err
	}
	if _, err := w.Write(h.Bytes()); err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	for ti, t := range tensors {
		dtype := dtypes[ti]
		elem := dtype.size()
		for data := t.Data; len(data) > 0; {
			n := min(len(data), len(buf)/elem)
			switch dtype {
			case F32:
				for i, v := range data[:n] {
					binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
				}
			case I8:
				for i, v := range data[:n] {
					buf[i] = byte(int8(v))
				}
			default:
				encodeHalf(data[:n], dtype, buf)
			}
			if _, err := w.Write(buf[:elem*n]); err != nil {
				return err
			}
			data = data[n:]
		}
	}
	return nil
}

func writeJSONString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s) // a string always marshals
	b.Write(q)
}

// Load fills each tensor of into, by name, from the safetensors file at
// path. Every tensor must be present with the same shape and dtype F32,
// F16 or BF16 (half-precision values are converted to float32 exactly),
// and the file may hold no other tensor (see LoadSubset to allow that),
// and every value must be finite (no NaN, no ±Inf). Nothing is modified
// unless the whole header checks out; errors are *Error values naming the
// tensor at fault.
func Load(path string, into []*tensor.Tensor) error {
	extra, err := LoadSubset(path, into)
	if err != nil {
		return err
	}
	if len(extra) > 0 {
		more := ""
		if len(extra) > 1 {
			more = fmt.Sprintf(" (and %d more)", len(extra)-1)
		}
		return errorf(path, extra[0], "unexpected tensor in the file: no parameter has this name%s", more)
	}
	return nil
}

// LoadSubset is Load that allows the file to hold tensors into does not
// name (e.g. optimizer state beside the weights); their names are
// returned, in file order.
func LoadSubset(path string, into []*tensor.Tensor) (extra []string, err error) {
	return LoadQuantized(path, into, nil)
}

// LoadQuantized is LoadSubset for a quantized model (qkv quantize): the
// tensors for which int8 returns true may be stored as I8 and are read as
// their integer values. Any other I8 tensor is refused, so quantized
// weights never load silently as float weights.
func LoadQuantized(path string, into []*tensor.Tensor, int8 func(name string) bool) (extra []string, err error) {
	f, h, err := open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return loadSubset(path, f, h, into, int8)
}

// LoadSubsetFrom is LoadSubset on a file that is not on disk (weights
// embedded in the binary, say): r holds its size bytes, and name is what
// errors call it.
func LoadSubsetFrom(name string, r io.ReaderAt, size int64, into []*tensor.Tensor) (extra []string, err error) {
	h, err := readHeader(name, r, size)
	if err != nil {
		return nil, err
	}
	return loadSubset(name, r, h, into, nil)
}

// loadSubset is LoadQuantized on a file whose header is h.
func loadSubset(path string, f io.ReaderAt, h *header, into []*tensor.Tensor, int8 func(string) bool) (extra []string, err error) {
	want := make(map[string]bool, len(into))
	for i, t := range into {
		if t == nil || t.Name == "" {
			return nil, errorf(path, "", "load: parameter %d has no name", i)
		}
		if want[t.Name] {
			return nil, errorf(path, t.Name, "load: two parameters have this name")
		}
		want[t.Name] = true
		k, ok := h.byName[t.Name]
		if !ok {
			return nil, errorf(path, t.Name, "missing from the file (shape %v expected)", t.Shape)
		}
		e := &h.entries[k]
		if !DType(e.dtype).readable() {
			return nil, errorf(path, t.Name, "dtype %s, want F32, F16, BF16 or I8", e.dtype)
		}
		if DType(e.dtype) == I8 && (int8 == nil || !int8(t.Name)) {
			return nil, errorf(path, t.Name, "dtype I8: these are quantized weights (qkv quantize), which only the model directory qkv quantize wrote can load")
		}
		if !slices.Equal(e.shape, t.Shape) {
			return nil, errorf(path, t.Name, "shape %v in the file, want %v", e.shape, t.Shape)
		}
		if len(t.Data) != int(e.end-e.begin)/DType(e.dtype).size() {
			return nil, errorf(path, t.Name, "parameter holds %d values for shape %v", len(t.Data), t.Shape)
		}
	}
	for _, e := range h.entries {
		if !want[e.name] {
			extra = append(extra, e.name)
		}
	}
	buf := make([]byte, 256<<10)
	for _, t := range into {
		e := &h.entries[h.byName[t.Name]]
		if err := readValues(path, t.Name, DType(e.dtype), f, h.dataAt+int64(e.begin), t.Data, buf); err != nil {
			return nil, err
		}
	}
	return extra, nil
}

// ReadAll returns every tensor of the file (F32, F16 or BF16, all
// converted to float32) by name, and the file's metadata. It is for tools;
// training code uses Load.
func ReadAll(path string) (map[string]Array, map[string]string, error) {
	f, h, err := open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	return readAll(path, f, h)
}

// readAll reads every tensor of a file whose header is h.
func readAll(path string, f io.ReaderAt, h *header) (map[string]Array, map[string]string, error) {
	out := make(map[string]Array, len(h.entries))
	buf := make([]byte, 256<<10)
	for _, e := range h.entries {
		d := DType(e.dtype)
		if !d.readable() {
			return nil, nil, errorf(path, e.name, "dtype %s, want F32, F16, BF16 or I8", e.dtype)
		}
		a := Array{Shape: e.shape, Data: make([]float32, (e.end-e.begin)/uint64(d.size())), DType: d}
		if err := readValues(path, e.name, d, f, h.dataAt+int64(e.begin), a.Data, buf); err != nil {
			return nil, nil, err
		}
		out[e.name] = a
	}
	return out, h.metadata, nil
}

// ReadMetadata returns the "__metadata__" of a file after validating its
// header, without reading any tensor.
func ReadMetadata(path string) (map[string]string, error) {
	f, h, err := open(path)
	if err != nil {
		return nil, err
	}
	f.Close()
	return h.metadata, nil
}

// readValues reads len(dst) little-endian values of dtype d at off into
// dst, converted to float32, the data of tensor name of the file at path.
// A NaN or an infinity among them
// is an error: no parameter, optimizer moment or average qkv writes holds
// one unless the file is corrupt or the run diverged, and such weights
// decode to nonsense (every token <pad>) instead of failing. The check
// costs nothing next to the read: it is done on each chunk as it is
// converted. On error dst may be partly filled.
func readValues(path, name string, d DType, r io.ReaderAt, off int64, dst []float32, buf []byte) error {
	bad, first := 0, -1
	var firstVal float32
	size := d.size()
	for done := 0; done < len(dst); {
		n := min(len(dst)-done, len(buf)/size)
		if _, err := r.ReadAt(buf[:size*n], off); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return errorf(path, name, "reading data: %v", err)
		}
		chunk := dst[done : done+n]
		for i := range chunk {
			// The exponent all ones is ±Inf or NaN, in every dtype.
			var nonFinite bool
			switch d {
			case F32:
				b := binary.LittleEndian.Uint32(buf[4*i:])
				chunk[i], nonFinite = math.Float32frombits(b), b&0x7f800000 == 0x7f800000
			case F16:
				h := binary.LittleEndian.Uint16(buf[2*i:])
				chunk[i], nonFinite = FromF16(h), h&0x7c00 == 0x7c00
			case BF16:
				h := binary.LittleEndian.Uint16(buf[2*i:])
				chunk[i], nonFinite = FromBF16(h), h&0x7f80 == 0x7f80
			case I8:
				chunk[i] = float32(int8(buf[i]))
			}
			if nonFinite {
				if bad == 0 {
					first, firstVal = done+i, chunk[i]
				}
				bad++
			}
		}
		done, off = done+n, off+int64(size*n)
	}
	if bad > 0 {
		return errorf(path, name, "%d of %d values are not finite (the first, at index %d, is %v): "+
			"the file is corrupt or the run that wrote it diverged; load another checkpoint "+
			"(best, last, a step-* snapshot) or train again", bad, len(dst), first, firstVal)
	}
	return nil
}

// open opens path and reads and validates its header.
func open(path string) (*os.File, *header, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("checkpoint: %w", err)
	}
	h, err := readHeader(path, f, fi.Size())
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, h, nil
}

// readHeader reads and validates the header of a file of the given size.
func readHeader(path string, r io.ReaderAt, size int64) (*header, error) {
	if size < 8 {
		return nil, errorf(path, "", "file is %d bytes, too short for the 8-byte header size: truncated or not a safetensors file", size)
	}
	var sz [8]byte
	if _, err := r.ReadAt(sz[:], 0); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	n := binary.LittleEndian.Uint64(sz[:])
	switch {
	case n > MaxHeaderSize:
		return nil, errorf(path, "", "header size %d exceeds the limit of %d bytes: corrupt or not a safetensors file", n, MaxHeaderSize)
	case n > uint64(size-8):
		return nil, errorf(path, "", "header size %d but only %d bytes follow it: the file is truncated or corrupt", n, size-8)
	case n < 2:
		return nil, errorf(path, "", "header size %d is too small for a JSON object", n)
	}
	raw := make([]byte, n)
	if _, err := r.ReadAt(raw, 8); err != nil {
		return nil, fmt.Errorf("checkpoint %s: reading header: %w", path, err)
	}
	h, err := parseHeader(path, raw)
	if err != nil {
		return nil, err
	}
	h.dataAt = 8 + int64(n)
	if err := h.validate(path, uint64(size)-8-n); err != nil {
		return nil, err
	}
	return h, nil
}

// parseHeader decodes the JSON header, keeping the order of the tensors
// and rejecting duplicate names and missing or malformed fields.
func parseHeader(path string, raw []byte) (*header, error) {
	if raw[0] != '{' {
		return nil, errorf(path, "", "header does not start with '{': not a safetensors file")
	}
	bad := func(err error) error {
		return errorf(path, "", "header is not valid JSON: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return nil, bad(err)
	}
	h := &header{byName: map[string]int{}}
	sawMeta := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, bad(err)
		}
		name, _ := tok.(string)
		if name == metadataKey {
			if sawMeta {
				return nil, errorf(path, "", "header has %q twice", metadataKey)
			}
			sawMeta = true
			var m map[string]string
			if err := dec.Decode(&m); err != nil {
				return nil, errorf(path, "", "header: %q must map strings to strings: %v", metadataKey, err)
			}
			h.metadata = m
			continue
		}
		if _, dup := h.byName[name]; dup {
			return nil, errorf(path, name, "appears twice in the header")
		}
		var v struct {
			DType   *string   `json:"dtype"`
			Shape   *[]int64  `json:"shape"`
			Offsets *[]uint64 `json:"data_offsets"`
		}
		if err := dec.Decode(&v); err != nil {
			return nil, errorf(path, name, "bad header entry: %v", err)
		}
		switch {
		case v.DType == nil:
			return nil, errorf(path, name, "header entry has no dtype")
		case v.Shape == nil:
			return nil, errorf(path, name, "header entry has no shape")
		case v.Offsets == nil:
			return nil, errorf(path, name, "header entry has no data_offsets")
		case len(*v.Offsets) != 2:
			return nil, errorf(path, name, "data_offsets has %d values, want 2", len(*v.Offsets))
		}
		e := entry{name: name, dtype: *v.DType, begin: (*v.Offsets)[0], end: (*v.Offsets)[1]}
		for _, d := range *v.Shape {
			if d < 0 || d > math.MaxInt32 {
				return nil, errorf(path, name, "invalid dimension %d in shape %v", d, *v.Shape)
			}
			e.shape = append(e.shape, int(d))
		}
		if e.shape == nil {
			e.shape = []int{} // a scalar
		}
		h.byName[name] = len(h.entries)
		h.entries = append(h.entries, e)
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, bad(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errorf(path, "", "header has data after its JSON object")
	}
	return h, nil
}

// validate checks each entry's dtype and size, and that the entries tile
// the dataLen bytes of data exactly.
func (h *header) validate(path string, dataLen uint64) error {
	for _, e := range h.entries {
		size, ok := dtypeSizes[e.dtype]
		if !ok {
			return errorf(path, e.name, "unknown dtype %q", e.dtype)
		}
		n := size
		for _, d := range e.shape {
			hi, lo := bits.Mul64(n, uint64(d))
			if hi != 0 {
				return errorf(path, e.name, "shape %v is too large", e.shape)
			}
			n = lo
		}
		if e.end < e.begin {
			return errorf(path, e.name, "data_offsets [%d, %d] end before they begin", e.begin, e.end)
		}
		if e.end-e.begin != n {
			return errorf(path, e.name, "data_offsets [%d, %d] span %d bytes, but %s %v needs %d", e.begin, e.end, e.end-e.begin, e.dtype, e.shape, n)
		}
	}
	order := make([]int, len(h.entries))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		ea, eb := &h.entries[order[a]], &h.entries[order[b]]
		return ea.begin < eb.begin || (ea.begin == eb.begin && ea.end < eb.end)
	})
	// Out of range first: that is how truncation shows, and it names the
	// first tensor whose data is missing.
	for _, i := range order {
		if e := &h.entries[i]; e.end > dataLen {
			return errorf(path, e.name, "data [%d, %d) runs past the end of the data (%d bytes): the file is truncated", e.begin, e.end, dataLen)
		}
	}
	var at uint64
	prev := ""
	for _, i := range order {
		e := &h.entries[i]
		switch {
		case e.begin < at:
			return errorf(path, e.name, "data [%d, %d) overlaps tensor %q", e.begin, e.end, prev)
		case e.begin > at:
			return errorf(path, e.name, "data starts at %d, leaving %d unused bytes before it", e.begin, e.begin-at)
		}
		at, prev = e.end, e.name
	}
	if at != dataLen {
		return errorf(path, "", "%d unused bytes after the last tensor's data: corrupt file", dataLen-at)
	}
	return nil
}
