package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// forEachInt8Impl runs f once per int8 implementation this CPU has, with
// that implementation selected.
func forEachInt8Impl(t *testing.T, f func(t *testing.T)) {
	for _, name := range Int8Impls() {
		t.Run(name, func(t *testing.T) {
			prev, err := SetInt8Impl(name)
			if err != nil {
				t.Fatal(err)
			}
			defer SetInt8Impl(prev)
			f(t)
		})
	}
}

func randInt8s(r *rand.Rand, n int) []int8 {
	v := make([]int8, n)
	for i := range v {
		v[i] = int8(r.IntN(255) - 127)
	}
	return v
}

// TestInt8GemmExact compares every implementation's int32 sums with the
// reference loop of Int8Gemm's doc comment, on operands at the extremes
// (127 by ±127, the largest pair sums VPMADDUBSW sees) and random ones,
// for every k up to 40 groups and a few long ones, and checks that nothing
// past c's m×n values is written.
func TestInt8GemmExact(t *testing.T) {
	forEachInt8Impl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		kgs := []int{1, 2, 3, 4, 5, 7, 8, 16, 31, 40, 64, 257}
		for _, kg := range kgs {
			for _, shape := range [][2]int{{4, 16}, {8, 32}, {12, 48}} {
				m, n := shape[0], shape[1]
				for _, extreme := range []bool{false, true} {
					a := make([]uint8, m*4*kg)
					for i := range a {
						a[i] = uint8(r.IntN(ActMax + 1))
						if extreme {
							a[i] = ActMax
						}
					}
					w := randInt8s(r, n*4*kg)
					if extreme {
						for i := range w {
							w[i] = int8(127 * (1 - 2*(i/7%2)))
						}
					}
					mat, err := NewInt8Matrix(w, make([]float32, n), n, 4*kg)
					if err != nil {
						t.Fatal(err)
					}
					const guard = -12345
					c := make([]int32, m*n+8)
					for i := range c {
						c[i] = guard
					}
					Int8Gemm(m, n, kg, a, mat.packed, c)
					for i := 0; i < m; i++ {
						for j := 0; j < n; j++ {
							var s int32
							for p := 0; p < 4*kg; p++ {
								s += int32(a[i*4*kg+p]) * int32(w[j*4*kg+p])
							}
							if c[i*n+j] != s {
								t.Fatalf("kg %d (%d, %d) extreme %v: c[%d][%d] = %d, want %d", kg, m, n, extreme, i, j, c[i*n+j], s)
							}
						}
					}
					for i := m * n; i < len(c); i++ {
						if c[i] != guard {
							t.Fatalf("kg %d (%d, %d): wrote c[%d] past the product", kg, m, n, i)
						}
					}
				}
			}
		}
	})
}

// TestQuantizeRowsTwins checks that every implementation quantizes rows to
// the same bytes as the reference formula, for every length up to 100 (all
// of the 32-wide loop's tails), with values on rounding ties and beyond the
// clamp, and that the bytes past k are zero.
func TestQuantizeRowsTwins(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	forEachInt8Impl(t, func(t *testing.T) {
		for k := 1; k <= 100; k++ {
			m := 3
			x := make([]float32, m*k)
			for i := range x {
				x[i] = float32(r.NormFloat64() * 3)
			}
			clear(x[2*k : 3*k]) // a row of zeros
			x[0] = 0            // row 0: also exact ties below
			ld := (k+3)/4*4 + 4
			q := make([]uint8, m*ld)
			for i := range q {
				q[i] = 0xee
			}
			scale := make([]float32, m)
			zero := make([]int32, m)
			QuantizeRows(x, m, k, q, ld, scale, zero)
			for i := 0; i < m; i++ {
				row := x[i*k : (i+1)*k]
				var lo, hi float64
				for _, v := range row {
					lo, hi = min(lo, float64(v)), max(hi, float64(v))
				}
				if hi == lo {
					if scale[i] != 0 || zero[i] != 0 {
						t.Fatalf("k %d row %d of zeros: scale %v zero %d", k, i, scale[i], zero[i])
					}
				} else if want := float32(hi-lo) / ActMax; scale[i] != want {
					t.Fatalf("k %d row %d: scale %v, want %v", k, i, scale[i], want)
				}
				for p := 0; p < ld; p++ {
					want := uint8(0)
					if p < k && scale[i] != 0 {
						inv := 1 / scale[i]
						v := math.RoundToEven(float64(row[p]*inv)) + float64(zero[i])
						want = uint8(max(0, min(ActMax, v)))
					}
					if q[i*ld+p] != want {
						t.Fatalf("k %d row %d: q[%d] = %d, want %d (x %v, scale %v, zero %d)", k, i, p, q[i*ld+p], want, row[min(p, k-1)], scale[i], zero[i])
					}
				}
			}
		}
		// Ties round to even, and values past the range clamp.
		x := []float32{0.5, 1.5, 2.5, -0.5, -1.5, 126.5, 300, -300}
		q := make([]uint8, 32)
		quantizeTies := make([]float32, 32)
		copy(quantizeTies, x)
		curInt8.quantize(quantizeTies, 1, 0, q)
		want := []uint8{0, 2, 2, 0, 0, 126, 127, 0}
		for i, w := range want {
			if q[i] != w {
				t.Errorf("quantize(%v) = %d, want %d", x[i], q[i], w)
			}
		}
	})
}

// TestInt8LinearTwins checks Int8Linear over shapes with every kind of
// tail (m not a multiple of 4, n of 16, k of 4 or 32): each implementation
// gives the same bits, and those are the dequantized exact integer sums.
func TestInt8LinearTwins(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, m := range []int{1, 2, 3, 4, 5, 9} {
		for _, n := range []int{1, 7, 16, 17, 40} {
			for _, k := range []int{1, 3, 4, 31, 33, 70} {
				x := make([]float32, m*k)
				for i := range x {
					x[i] = float32(r.NormFloat64())
				}
				w := make([]float32, n*k)
				for i := range w {
					w[i] = float32(r.NormFloat64() * 0.1)
				}
				bias := make([]float32, n)
				for i := range bias {
					bias[i] = float32(r.NormFloat64())
				}
				mat, err := QuantizeWeights(w, n, k)
				if err != nil {
					t.Fatal(err)
				}
				var outs [][]float32
				forEachInt8Impl(t, func(t *testing.T) {
					y := make([]float32, m*n)
					var s Int8Scratch
					Int8Linear(y, x, m, mat, bias, &s)
					// The reference: the same quantized rows, summed in int64.
					ld := (k + 3) / 4 * 4
					q := make([]uint8, m*ld)
					sc := make([]float32, m)
					z := make([]int32, m)
					QuantizeRows(x, m, k, q, ld, sc, z)
					for i := 0; i < m; i++ {
						for j := 0; j < n; j++ {
							var acc int64
							for p := 0; p < k; p++ {
								acc += int64(q[i*ld+p]) * int64(mat.Data[j*k+p])
							}
							acc -= int64(z[i]) * int64(mat.colSum[j])
							want := sc[i]*mat.Scale[j]*float32(acc) + bias[j]
							if y[i*n+j] != want {
								t.Fatalf("(%d, %d, %d): y[%d][%d] = %v, want %v", m, n, k, i, j, y[i*n+j], want)
							}
						}
					}
					outs = append(outs, y)
				})
				for _, y := range outs[1:] {
					for i := range y {
						if math.Float32bits(y[i]) != math.Float32bits(outs[0][i]) {
							t.Fatalf("(%d, %d, %d): implementations differ at %d: %v and %v", m, n, k, i, y[i], outs[0][i])
						}
					}
				}
			}
		}
	}
}

// TestInt8LinearError compares Int8Linear with the float64 product of the
// float32 operands: every output must lie within the bound that rounding
// each weight by at most half its channel's step and each activation by at
// most half its row's step allows, and the typical error must be small
// against the outputs (a kernel that dropped a term would pass neither).
func TestInt8LinearError(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	m, n, k := 7, 45, 256
	x := make([]float32, m*k)
	for i := range x {
		x[i] = float32(r.NormFloat64())
		if i%k < k/2 {
			x[i] = max(0, x[i]) // half of each row post-ReLU-like
		}
	}
	w := make([]float32, n*k)
	for i := range w {
		w[i] = float32(r.NormFloat64() / 16)
	}
	mat, err := QuantizeWeights(w, n, k)
	if err != nil {
		t.Fatal(err)
	}
	for j := 0; j < n; j++ {
		var mx float32
		for p := 0; p < k; p++ {
			d := math.Abs(float64(w[j*k+p] - mat.Scale[j]*float32(mat.Data[j*k+p])))
			if d > float64(mat.Scale[j])/2*(1+1e-6) {
				t.Fatalf("weight (%d, %d) off by %g, more than half a step %g", j, p, d, mat.Scale[j]/2)
			}
			mx = max(mx, abs32(float32(mat.Data[j*k+p])))
		}
		if mx != 127 {
			t.Fatalf("channel %d: largest |q| %v, want 127", j, mx)
		}
	}
	forEachInt8Impl(t, func(t *testing.T) {
		y := make([]float32, m*n)
		var s Int8Scratch
		Int8Linear(y, x, m, mat, nil, &s)
		var sumErr, sumAbs float64
		for i := 0; i < m; i++ {
			var lo, hi float64
			for _, v := range x[i*k : (i+1)*k] {
				lo, hi = min(lo, float64(v)), max(hi, float64(v))
			}
			sa := (hi - lo) / ActMax
			for j := 0; j < n; j++ {
				var exact, bound float64
				for p := 0; p < k; p++ {
					xv, wv := float64(x[i*k+p]), float64(w[j*k+p])
					exact += xv * wv
					sw := float64(mat.Scale[j])
					bound += math.Abs(xv)*sw/2 + (math.Abs(wv)+sw/2)*sa/2
				}
				d := math.Abs(float64(y[i*n+j]) - exact)
				if d > bound*1.001+1e-6 {
					t.Errorf("y[%d][%d] = %v, float64 %v: error %g beyond the quantization bound %g", i, j, y[i*n+j], exact, d, bound)
				}
				sumErr += d
				sumAbs += math.Abs(exact)
			}
		}
		if sumErr > 0.02*sumAbs {
			t.Errorf("mean error %.4g is %.2f%% of the mean output: too large for 8-bit weights and 7-bit activations", sumErr/float64(m*n), 100*sumErr/sumAbs)
		}
	})
}

func TestQuantizeWeightsRefuses(t *testing.T) {
	if _, err := QuantizeWeights([]float32{1, float32(math.NaN())}, 1, 2); err == nil {
		t.Error("a NaN weight was quantized")
	}
	if _, err := NewInt8Matrix([]int8{-128, 0}, []float32{1}, 1, 2); err == nil {
		t.Error("−128 was accepted")
	}
	m, err := QuantizeWeights([]float32{0, 0, 1, -2}, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if m.Scale[0] != 0 || m.Data[0] != 0 || m.Data[1] != 0 || m.Data[3] != -127 || m.Data[2] != 64 {
		t.Errorf("got scales %v data %v", m.Scale, m.Data)
	}
}

// BenchmarkInt8Linear is a decoder step's projection, (64, 256)·(256, 1024)ᵀ,
// in int8 and, for the ratio, in float32 (Sgemm with the bias as beta·C).
func BenchmarkInt8Linear(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 9))
	m, n, k := 64, 1024, 256
	x := make([]float32, m*k)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	w := make([]float32, n*k)
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	mat, _ := QuantizeWeights(w, n, k)
	y := make([]float32, m*n)
	for _, name := range Int8Impls() {
		b.Run("int8-"+name, func(b *testing.B) {
			prev, _ := SetInt8Impl(name)
			defer SetInt8Impl(prev)
			var s Int8Scratch
			b.SetBytes(int64(2 * m * n * k))
			for b.Loop() {
				Int8Linear(y, x, m, mat, nil, &s)
			}
		})
	}
	b.Run("fp32", func(b *testing.B) {
		b.SetBytes(int64(2 * m * n * k))
		for b.Loop() {
			Sgemm(false, true, m, n, k, 1, x, k, w, k, 0, y, n)
		}
	})
}

// TestInt8GemmThreads checks that a product big enough to be split among
// threads gives the sums of one thread.
func TestInt8GemmThreads(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	m, n, kg := 64, 256, 64
	a := make([]uint8, m*4*kg)
	for i := range a {
		a[i] = uint8(r.IntN(ActMax + 1))
	}
	mat, err := NewInt8Matrix(randInt8s(r, n*4*kg), make([]float32, n), n, 4*kg)
	if err != nil {
		t.Fatal(err)
	}
	forEachInt8Impl(t, func(t *testing.T) {
		var c [2][]int32
		for i, th := range []int{1, 4} {
			prev := SetThreads(th)
			c[i] = make([]int32, m*n)
			Int8Gemm(m, n, kg, a, mat.packed, c[i])
			SetThreads(prev)
		}
		for i := range c[0] {
			if c[0][i] != c[1][i] {
				t.Fatalf("sum %d: %d with one thread, %d with four", i, c[0][i], c[1][i])
			}
		}
	})
}
