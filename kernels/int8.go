package kernels

import (
	"fmt"
	"math"
)

// int8 matrix products for inference (dynamic quantization, as in
// Jacob et al. 2018, "Quantization and Training of Neural Networks for
// Efficient Integer-Arithmetic-Only Inference", and PyTorch's dynamic
// quantized Linear): the weights are quantized once, per output channel,
// symmetrically to int8 (QuantizeWeights); every row of the activations is
// quantized when it arrives, asymmetrically with a zero point; the products
// are summed exactly in int32 and the sum is dequantized with the row's
// scale times the channel's scale.
//
// Activations take 7 bits (0…127 around a zero point): u7·s8 pair sums stay
// within int16 (2·127·127 = 32258), so AVX2's VPMADDUBSW, which saturates
// at 32767, is exact, and every implementation gives the same int32 sums as
// the Go twin, bit for bit (AVX-512 VNNI's VPDPBUSD takes the same u8·s8
// operands).
//
// Implementations (Int8Impls): "avx2" (VPMADDUBSW, VPMADDWD, 4×16 tiles)
// and "generic", the Go twin of the microkernel.

// int8MR and int8NR are the tile of the microkernel: 4 rows of activations
// by 16 output channels, each k step a group of 4 bytes.
const (
	int8MR = 4
	int8NR = 16
)

// ActMax is the largest quantized activation: activations take 7 bits.
const ActMax = 127

// Int8Matrix is a weight matrix W (N, K) (torch.nn.Linear's layout: row j
// is output channel j) quantized per output channel:
// W[j][p] ≈ Scale[j]·Data[j*K+p], Data in −127…127.
type Int8Matrix struct {
	N, K  int
	Data  []int8    // (N, K) row-major, as files store it
	Scale []float32 // (N)

	colSum []int32 // (N): Σ_p Data[j*K+p], for the activations' zero point
	kg     int     // groups of 4 along K
	packed []int8  // ⌈N/16⌉ panels of kg×16×4: panel q, group g, channel j, byte b is W[16q+j][4g+b]
}

// QuantizeWeights quantizes w (n, k) per output channel, symmetrically:
// Scale[j] = max_p |w[j][p]| / 127 and Data = round(w/Scale[j]) (to nearest,
// ties to even); a channel of zeros gets scale 0 and zero weights. A value
// that is not finite is an error.
func QuantizeWeights(w []float32, n, k int) (*Int8Matrix, error) {
	if n <= 0 || k <= 0 || len(w) != n*k {
		return nil, fmt.Errorf("kernels: QuantizeWeights of %d values as (%d, %d)", len(w), n, k)
	}
	data := make([]int8, n*k)
	scale := make([]float32, n)
	for j := 0; j < n; j++ {
		row := w[j*k : (j+1)*k]
		var mx float32
		for p, v := range row {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("kernels: QuantizeWeights: channel %d holds %v at %d", j, v, p)
			}
			mx = max(mx, abs32(v))
		}
		if mx == 0 {
			continue
		}
		s := mx / 127
		scale[j] = s
		for p, v := range row {
			q := math.RoundToEven(float64(v / s))
			data[j*k+p] = int8(max(-127, min(127, q)))
		}
	}
	return NewInt8Matrix(data, scale, n, k)
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

// NewInt8Matrix wraps quantized weights data (n, k) with their channel
// scales (n) and packs them for the kernels. Data must lie in −127…127.
func NewInt8Matrix(data []int8, scale []float32, n, k int) (*Int8Matrix, error) {
	if n <= 0 || k <= 0 || len(data) != n*k || len(scale) != n {
		return nil, fmt.Errorf("kernels: int8 matrix (%d, %d) with %d values and %d scales", n, k, len(data), len(scale))
	}
	for i, v := range data {
		if v == -128 {
			return nil, fmt.Errorf("kernels: int8 weight %d of (%d, %d) is −128, outside −127…127", i, n, k)
		}
	}
	for j, s := range scale {
		if !(s >= 0) || math.IsInf(float64(s), 0) {
			return nil, fmt.Errorf("kernels: int8 channel %d has scale %v, want a finite value ≥ 0", j, s)
		}
	}
	m := &Int8Matrix{N: n, K: k, Data: data, Scale: scale, colSum: make([]int32, n), kg: (k + 3) / 4}
	for j := 0; j < n; j++ {
		var s int32
		for _, v := range data[j*k : (j+1)*k] {
			s += int32(v)
		}
		m.colSum[j] = s
	}
	panels := (n + int8NR - 1) / int8NR
	m.packed = make([]int8, panels*m.kg*int8NR*4)
	for q := 0; q < panels; q++ {
		d := m.packed[q*m.kg*int8NR*4:]
		for g := 0; g < m.kg; g++ {
			for j := 0; j < int8NR; j++ {
				c := q*int8NR + j
				for b := 0; b < 4; b++ {
					if p := 4*g + b; c < n && p < k {
						d[(g*int8NR+j)*4+b] = data[c*k+p]
					}
				}
			}
		}
	}
	return m, nil
}

// ConcatInt8 stacks matrices of the same K along N: the rows of the first,
// then of the second, and so on (Q, K and V projections side by side, so
// one product quantizes their input once).
func ConcatInt8(ms ...*Int8Matrix) (*Int8Matrix, error) {
	if len(ms) == 0 {
		return nil, fmt.Errorf("kernels: ConcatInt8 of nothing")
	}
	k := ms[0].K
	var data []int8
	var scale []float32
	for _, m := range ms {
		if m.K != k {
			return nil, fmt.Errorf("kernels: ConcatInt8 of K %d and %d", k, m.K)
		}
		data = append(data, m.Data...)
		scale = append(scale, m.Scale...)
	}
	return NewInt8Matrix(data, scale, len(scale), k)
}

// Dequantize returns the float32 weights Scale[j]·Data[j*K+p], (N, K).
func (m *Int8Matrix) Dequantize() []float32 {
	w := make([]float32, m.N*m.K)
	for j := 0; j < m.N; j++ {
		for p := 0; p < m.K; p++ {
			w[j*m.K+p] = m.Scale[j] * float32(m.Data[j*m.K+p])
		}
	}
	return w
}

// Int8Scratch holds the buffers of Int8Linear, reused from call to call.
type Int8Scratch struct {
	q     []uint8   // (⌈m/4⌉·4, kg·4) quantized activations
	scale []float32 // (m) row scales
	zero  []int32   // (m) row zero points
	acc   []int32   // (⌈m/4⌉·4, ⌈n/16⌉·16) int32 sums
}

// QuantizeRows quantizes the m rows of x (m, k) to 7 bits, asymmetrically:
// with lo = min(0, min x_i) and hi = max(0, max x_i), scale_i = (hi−lo)/127
// and zero_i = round(−lo/scale_i), q[i][p] = clamp(round(x[i][p]/scale_i) +
// zero_i, 0, 127), rounding to nearest, ties to even; q has rows of ld
// bytes, the bytes past k zero. A row of zeros gets scale 0, zero point 0.
func QuantizeRows(x []float32, m, k int, q []uint8, ld int, scale []float32, zero []int32) {
	for i := 0; i < m; i++ {
		row := x[i*k : (i+1)*k]
		var lo, hi float32
		for _, v := range row {
			lo, hi = min(lo, v), max(hi, v)
		}
		qr := q[i*ld : (i+1)*ld]
		if hi == lo {
			scale[i], zero[i] = 0, 0
			clear(qr)
			continue
		}
		s := (hi - lo) / ActMax
		inv := 1 / s
		z := float32(math.RoundToEven(float64(-lo * inv)))
		scale[i], zero[i] = s, int32(z)
		curInt8.quantize(row, inv, z, qr[:k])
		clear(qr[k:])
	}
}

// quantizeRowGeneric is the Go twin of quantizeRowAVX2:
// q[p] = clamp(roundToEven(x[p]·inv) + z, 0, 127).
func quantizeRowGeneric(x []float32, inv, z float32, q []uint8) {
	for p, v := range x {
		r := float32(math.RoundToEven(float64(v*inv))) + z
		q[p] = uint8(max(0, min(ActMax, r)))
	}
}

// Int8Linear computes y (m, N) = x·Wᵀ + bias for x (m, K) with w's int8
// weights: each row of x is quantized (QuantizeRows), the products summed
// exactly in int32, and
//
//	y[i][j] = scale_i·w.Scale[j]·(Σ_p q[i][p]·w.Data[j][p] − zero_i·Σ_p w.Data[j][p]) + bias[j]
//
// bias may be nil. s keeps the buffers between calls.
func Int8Linear(y, x []float32, m int, w *Int8Matrix, bias []float32, s *Int8Scratch) {
	n, k := w.N, w.K
	if len(x) < m*k || len(y) < m*n || (bias != nil && len(bias) != n) {
		panic(fmt.Sprintf("kernels: Int8Linear of x[%d], y[%d], bias[%d] for (%d, %d)×(%d, %d)ᵀ", len(x), len(y), len(bias), m, k, n, k))
	}
	if m == 0 {
		return
	}
	mp := (m + int8MR - 1) / int8MR * int8MR
	np := (n + int8NR - 1) / int8NR * int8NR
	ld := w.kg * 4
	s.q = growU8(s.q, mp*ld)
	s.scale = growF32(s.scale, m)
	s.zero = growI32(s.zero, m)
	s.acc = growI32(s.acc, mp*np)
	QuantizeRows(x, m, k, s.q, ld, s.scale, s.zero)
	clear(s.q[m*ld : mp*ld])
	Int8Gemm(mp, np, w.kg, s.q, w.packed, s.acc)
	for i := 0; i < m; i++ {
		yr, ar := y[i*n:(i+1)*n], s.acc[i*np:i*np+n]
		sa, z := s.scale[i], s.zero[i]
		for j := range yr {
			v := sa * w.Scale[j] * float32(ar[j]-z*w.colSum[j])
			if bias != nil {
				v += bias[j]
			}
			yr[j] = v
		}
	}
}

// Int8Gemm sums c (m, n) = a (m, 4·kg) · bᵀ in int32 exactly, with a
// row-major u8 (rows of 4·kg bytes) and b packed as NewInt8Matrix packs
// (n/16 panels); m is a multiple of 4 and n of 16. Reference loop:
//
//	for i := 0; i < m; i++ {
//		for j := 0; j < n; j++ {
//			var s int32
//			for p := 0; p < 4*kg; p++ {
//				s += int32(a[i*4*kg+p]) * int32(b[((j/16*kg+p/4)*16+j%16)*4+p%4])
//			}
//			c[i*n+j] = s
//		}
//	}
func Int8Gemm(m, n, kg int, a []uint8, b []int8, c []int32) {
	if m%int8MR != 0 || n%int8NR != 0 || len(a) < m*4*kg || len(b) < n*4*kg || len(c) < m*n {
		panic(fmt.Sprintf("kernels: Int8Gemm (%d, %d, 4·%d) with a[%d], b[%d], c[%d]", m, n, kg, len(a), len(b), len(c)))
	}
	if kg == 0 {
		clear(c[:m*n])
		return
	}
	lda := 4 * kg
	kernel := curInt8.kernel
	// Panels of 16 channels go to the threads (ParallelRange), each piece
	// at least int8Grain products: a decoder step's small products stay on
	// the caller. Every sum is exact, so the split changes nothing.
	perPanel := m * kg * int8NR * 4
	ParallelRange(n/int8NR, max(1, int8Grain/perPanel), func(lo, hi int) {
		for q := lo; q < hi; q++ {
			bp := b[q*kg*int8NR*4 : (q+1)*kg*int8NR*4]
			for i := 0; i < m; i += int8MR {
				kernel(kg, a[i*lda:(i+int8MR)*lda], lda, bp, c[i*n+q*int8NR:], n)
			}
		}
	})
}

// int8Grain is the fewest multiply-adds worth handing to another thread.
const int8Grain = 1 << 20

// int8Impl is one implementation of the 4×16 int8 microkernel.
type int8Impl struct {
	name string
	// kernel writes c[i*ldc+j] = Σ_p a[i*lda+p]·b[(p/4*16+j)*4+p%4] for
	// the 4×16 tile, p < 4·kg.
	kernel func(kg int, a []uint8, lda int, b []int8, c []int32, ldc int)
	// quantize writes q[p] = clamp(roundToEven(x[p]·inv) + z, 0, 127).
	quantize func(x []float32, inv, z float32, q []uint8)
}

// int8KernelGeneric is the Go twin of the microkernels: the 4×16 tile
// c[i*ldc+j] = Σ_p a[i*lda+p]·b[(p/4*16+j)*4+p%4], p < 4·kg.
func int8KernelGeneric(kg int, a []uint8, lda int, b []int8, c []int32, ldc int) {
	var acc [int8MR][int8NR]int32
	for g := 0; g < kg; g++ {
		bg := b[g*int8NR*4 : (g+1)*int8NR*4]
		for i := range int8MR {
			a4 := a[i*lda+4*g : i*lda+4*g+4]
			a0, a1, a2, a3 := int32(a4[0]), int32(a4[1]), int32(a4[2]), int32(a4[3])
			row := &acc[i]
			for j := range int8NR {
				w := bg[4*j : 4*j+4]
				row[j] += a0*int32(w[0]) + a1*int32(w[1]) + a2*int32(w[2]) + a3*int32(w[3])
			}
		}
	}
	for i := range int8MR {
		copy(c[i*ldc:i*ldc+int8NR], acc[i][:])
	}
}

var int8Generic = &int8Impl{name: "generic", kernel: int8KernelGeneric, quantize: quantizeRowGeneric}

// int8Impls lists the int8 implementations this CPU and build can run,
// best first, "generic" last; curInt8 is the one in use.
var (
	int8Impls []*int8Impl
	curInt8   *int8Impl
)

func init() {
	int8Impls = append(archInt8Impls(), int8Generic)
	curInt8 = int8Impls[0]
}

// Int8Impls returns the names of the int8 implementations this CPU (and
// build) can run, best first: "avx2" if the CPU has it, then "generic".
func Int8Impls() []string {
	names := make([]string, len(int8Impls))
	for i, g := range int8Impls {
		names[i] = g.name
	}
	return names
}

// Int8Impl returns the name of the int8 implementation in use.
func Int8Impl() string { return curInt8.name }

// SetInt8Impl selects the int8 implementation by name (one of Int8Impls())
// and returns the previous name. It is meant for tests and benchmarks and
// must not be called while kernels run.
func SetInt8Impl(name string) (prev string, err error) {
	for _, g := range int8Impls {
		if g.name == name {
			prev = curInt8.name
			curInt8 = g
			return prev, nil
		}
	}
	return curInt8.name, fmt.Errorf("kernels: int8 implementation %q not available (have %v)", name, Int8Impls())
}

func growU8(b []uint8, n int) []uint8 {
	if cap(b) < n {
		return make([]uint8, n)
	}
	return b[:n]
}

func growF32(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

func growI32(b []int32, n int) []int32 {
	if cap(b) < n {
		return make([]int32, n)
	}
	return b[:n]
}
