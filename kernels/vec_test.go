package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// vecLens is every length from 0 past four AVX-512 vectors twice, so that
// the 4-way unrolled loops, the single-vector loops and the Go tails all run.
const vecMaxLen = 2*4*16 + 17

// forEachVecImpl runs f for each implementation with that implementation
// selected.
func forEachVecImpl(t *testing.T, f func(t *testing.T)) {
	for _, name := range Impls() {
		t.Run(name, func(t *testing.T) {
			prev, err := SetImpl(name)
			if err != nil {
				t.Fatal(err)
			}
			defer SetImpl(prev)
			f(t)
		})
	}
}

// vbuf is a vector inside guard cells, at a chosen offset from an aligned
// start.
type vbuf struct {
	full []float32
	off  int
	s    []float32
}

func newVbuf(n, off int, fill func(i int) float32) *vbuf {
	const g = 19
	full := make([]float32, n+off+2*g)
	for i := range full {
		full[i] = guardVal
	}
	s := full[g+off : g+off+n : g+off+n]
	for i := range s {
		s[i] = fill(i)
	}
	return &vbuf{full, g + off, s}
}

func (b *vbuf) checkGuards(t *testing.T, what string) {
	t.Helper()
	for i, v := range b.full {
		if (i < b.off || i >= b.off+len(b.s)) && v != guardVal {
			t.Fatalf("%s: guard cell %d overwritten with %v", what, i-b.off, v)
		}
	}
}

func uniform(rng *rand.Rand, lo, hi float64) func(int) float32 {
	return func(int) float32 { return float32(lo + (hi-lo)*rng.Float64()) }
}

// ulps is |got-want| in units of float32 spacing at want.
func ulps(got float32, want float64) float64 {
	if math.IsInf(want, 0) || math.IsNaN(want) {
		if float64(got) == want || (math.IsNaN(want) && got != got) {
			return 0
		}
		return math.Inf(1)
	}
	if math.Abs(want) >= 0x1p128-0x1p103 { // rounds to ±Inf
		if float64(got) == math.Copysign(math.Inf(1), want) {
			return 0
		}
		return math.Inf(1)
	}
	w := float32(want)
	sp := math.Abs(float64(math.Nextafter32(w, float32(math.Inf(1)))) - float64(w))
	if sp == 0 || math.IsInf(sp, 0) {
		sp = math.Abs(float64(w) - float64(math.Nextafter32(w, 0)))
	}
	sp = max(sp, 0x1p-149)
	return math.Abs(float64(got)-want) / sp
}

func TestVecElementwise(t *testing.T) {
	forEachVecImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(7, 8))
		for n := 0; n <= vecMaxLen; n++ {
			for off := 0; off < 4; off++ {
				name := fmt.Sprintf("n=%d off=%d", n, off)
				x := newVbuf(n, off, uniform(rng, -3, 3))
				y := newVbuf(n, (off+1)%4, uniform(rng, -3, 3))
				d := newVbuf(n, (off+2)%4, func(int) float32 { return float32(math.NaN()) })
				x0 := append([]float32(nil), x.s...)
				y0 := append([]float32(nil), y.s...)

				Add(d.s, x.s, y.s)
				for i := range n {
					if d.s[i] != x0[i]+y0[i] {
						t.Fatalf("Add %s: [%d] = %v, want %v", name, i, d.s[i], x0[i]+y0[i])
					}
				}
				Mul(d.s, x.s, y.s)
				for i := range n {
					if d.s[i] != x0[i]*y0[i] {
						t.Fatalf("Mul %s: [%d] = %v, want %v", name, i, d.s[i], x0[i]*y0[i])
					}
				}
				const alpha float32 = -1.7
				Axpy(alpha, x.s, y.s)
				for i := range n {
					ax := float64(alpha) * float64(x0[i])
					want := float64(y0[i]) + ax
					if math.Abs(float64(y.s[i])-want) > 1.2e-7*(math.Abs(float64(y0[i]))+math.Abs(ax)) {
						t.Fatalf("Axpy %s: [%d] = %v, want %v", name, i, y.s[i], want)
					}
				}
				Scale(alpha, x.s)
				for i := range n {
					if x.s[i] != alpha*x0[i] {
						t.Fatalf("Scale %s: [%d] = %v, want %v", name, i, x.s[i], alpha*x0[i])
					}
				}
				x.checkGuards(t, "x "+name)
				y.checkGuards(t, "y "+name)
				d.checkGuards(t, "dst "+name)
			}
		}
	})
}

func TestVecReductions(t *testing.T) {
	forEachVecImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(9, 10))
		for n := 0; n <= vecMaxLen; n++ {
			for off := 0; off < 4; off++ {
				name := fmt.Sprintf("n=%d off=%d", n, off)
				x := newVbuf(n, off, uniform(rng, -2, 2))
				y := newVbuf(n, 3-off, uniform(rng, -2, 2))
				var s, sa, dt, da float64
				m := math.Inf(-1)
				for i := range n {
					s += float64(x.s[i])
					sa += math.Abs(float64(x.s[i]))
					dt += float64(x.s[i]) * float64(y.s[i])
					da += math.Abs(float64(x.s[i]) * float64(y.s[i]))
					m = math.Max(m, float64(x.s[i]))
				}
				tol := 1.2e-7 * float64(n+1)
				if got := Sum(x.s); math.Abs(float64(got)-s) > tol*sa {
					t.Fatalf("Sum %s = %v, want %v", name, got, s)
				}
				if got := Dot(x.s, y.s); math.Abs(float64(got)-dt) > tol*da {
					t.Fatalf("Dot %s = %v, want %v", name, got, dt)
				}
				if got := Max(x.s); float64(got) != m {
					t.Fatalf("Max %s = %v, want %v", name, got, m)
				}
				// The maximum in each position, including the tails.
				if n > 0 {
					for p := 0; p < n; p++ {
						old := x.s[p]
						x.s[p] = 10
						if got := Max(x.s); got != 10 {
							t.Fatalf("Max %s with 10 at %d = %v", name, p, got)
						}
						x.s[p] = old
					}
				}
				x.checkGuards(t, "x "+name)
				y.checkGuards(t, "y "+name)
			}
		}
	})
}

// specials are inputs at the edges of exp's range.
var specials = []float32{0, float32(math.Copysign(0, -1)), 1, -1, 1e-8, -1e-8, 0.5, 0.625, -0.625, 0.6249999,
	88.72, 88.7228, 88.73, 89, 100, -87.3, -87.4, -100, -103.9, -104, -104.5, -200,
	float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 20, -20, 9, -9, 3e38, -3e38}

func transcendentalInputs(rng *rand.Rand, n int, lo, hi float64) func(int) float32 {
	return func(i int) float32 {
		if rng.IntN(4) == 0 {
			return specials[rng.IntN(len(specials))]
		}
		return float32(lo + (hi-lo)*rng.Float64())
	}
}

func checkUnary(t *testing.T, what string, f func(dst, x []float32), ref func(float64) float64, lo, hi, maxUlps float64) {
	rng := rand.New(rand.NewPCG(11, 12))
	for n := 0; n <= vecMaxLen; n++ {
		for off := 0; off < 4; off++ {
			name := fmt.Sprintf("%s n=%d off=%d", what, n, off)
			x := newVbuf(n, off, transcendentalInputs(rng, n, lo, hi))
			d := newVbuf(n, 3-off, func(int) float32 { return float32(math.NaN()) })
			x0 := append([]float32(nil), x.s...)
			f(d.s, x.s)
			for i := range n {
				want := ref(float64(x0[i]))
				if u := ulps(d.s[i], want); !(u <= maxUlps) {
					t.Fatalf("%s: f(%v) = %v, want %v (%.1f ulp)", name, x0[i], d.s[i], want, u)
				}
				if x.s[i] != x0[i] && !(x0[i] != x0[i]) {
					t.Fatalf("%s: input changed", name)
				}
			}
			f(x.s, x.s) // in place
			for i := range n {
				if x.s[i] != d.s[i] && !(x.s[i] != x.s[i] && d.s[i] != d.s[i]) {
					t.Fatalf("%s: in place [%d] = %v, out of place %v", name, i, x.s[i], d.s[i])
				}
			}
			x.checkGuards(t, name)
			d.checkGuards(t, name)
		}
	}
}

func TestExp(t *testing.T) {
	forEachVecImpl(t, func(t *testing.T) {
		checkUnary(t, "Exp", Exp, math.Exp, -105, 90, 2)
		checkUnary(t, "Exp", Exp, math.Exp, -5, 5, 2)
	})
}

func TestTanh(t *testing.T) {
	forEachVecImpl(t, func(t *testing.T) {
		checkUnary(t, "Tanh", Tanh, math.Tanh, -10, 10, 4)
		checkUnary(t, "Tanh", Tanh, math.Tanh, -1, 1, 4)
	})
}

func TestSigmoid(t *testing.T) {
	forEachVecImpl(t, func(t *testing.T) {
		checkUnary(t, "Sigmoid", Sigmoid, func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }, -30, 30, 4)
	})
}

func TestSoftmax(t *testing.T) {
	forEachVecImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(13, 14))
		for n := 1; n <= vecMaxLen; n++ {
			for off := 0; off < 4; off++ {
				name := fmt.Sprintf("n=%d off=%d", n, off)
				x := newVbuf(n, off, uniform(rng, -20, 60))
				if n > 2 {
					x.s[rng.IntN(n)] = float32(math.Inf(-1)) // a masked position
				}
				x0 := append([]float32(nil), x.s...)
				Softmax(x.s)
				m := math.Inf(-1)
				for _, v := range x0 {
					m = math.Max(m, float64(v))
				}
				var z float64
				for _, v := range x0 {
					z += math.Exp(float64(v) - m)
				}
				var total float64
				for i := range n {
					// x[i]-max is rounded to float32 first, as any float32 softmax does.
					want := math.Exp(float64(x0[i]-float32(m))) / z
					if math.Abs(float64(x.s[i])-want) > 1e-6*want+1e-30 {
						t.Fatalf("Softmax %s: [%d] = %v, want %v", name, i, x.s[i], want)
					}
					total += float64(x.s[i])
				}
				if math.Abs(total-1) > 1e-5 {
					t.Fatalf("Softmax %s sums to %v", name, total)
				}
				x.checkGuards(t, name)
			}
		}
	})
}

func TestLayerNorm(t *testing.T) {
	forEachVecImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(15, 16))
		const eps = 1e-5
		for n := 1; n <= vecMaxLen; n++ {
			off := n % 4
			name := fmt.Sprintf("n=%d", n)
			x := newVbuf(n, off, uniform(rng, -3, 5))
			g := newVbuf(n, 3-off, uniform(rng, 0.5, 1.5))
			b := newVbuf(n, 1, uniform(rng, -1, 1))
			out := newVbuf(n, 2, func(int) float32 { return float32(math.NaN()) })
			mean, rstd := LayerNorm(out.s, x.s, g.s, b.s, eps)
			// float64 reference
			var mu, v float64
			for _, xv := range x.s {
				mu += float64(xv)
			}
			mu /= float64(n)
			for _, xv := range x.s {
				v += (float64(xv) - mu) * (float64(xv) - mu)
			}
			v /= float64(n)
			rs := 1 / math.Sqrt(v+eps)
			if math.Abs(float64(mean)-mu) > 1e-6*(1+math.Abs(mu)) || math.Abs(float64(rstd)-rs) > 1e-5*rs {
				t.Fatalf("LayerNorm %s: mean, rstd = %v, %v, want %v, %v", name, mean, rstd, mu, rs)
			}
			norm := make([]float64, n)
			for i := range n {
				norm[i] = (float64(x.s[i]) - mu) * rs
				want := norm[i]*float64(g.s[i]) + float64(b.s[i])
				if math.Abs(float64(out.s[i])-want) > 2e-5*(1+math.Abs(want)) {
					t.Fatalf("LayerNorm %s: out[%d] = %v, want %v", name, i, out.s[i], want)
				}
			}
			// Backward, against the formula in float64; dgamma and dbeta accumulate.
			dy := newVbuf(n, 0, uniform(rng, -1, 1))
			dx := newVbuf(n, 1, func(int) float32 { return float32(math.NaN()) })
			dg := newVbuf(n, 2, func(int) float32 { return 0.25 })
			db := newVbuf(n, 3, func(int) float32 { return -0.5 })
			LayerNormBackward(dx.s, dg.s, db.s, dy.s, x.s, mean, rstd, g.s)
			var md, mdn float64
			for i := range n {
				d := float64(g.s[i]) * float64(dy.s[i])
				md += d
				mdn += d * norm[i]
			}
			md /= float64(n)
			mdn /= float64(n)
			for i := range n {
				d := float64(g.s[i]) * float64(dy.s[i])
				want := (d - md - norm[i]*mdn) * rs
				if math.Abs(float64(dx.s[i])-want) > 5e-5*(1+math.Abs(want)) {
					t.Fatalf("LayerNormBackward %s: dx[%d] = %v, want %v", name, i, dx.s[i], want)
				}
				if w := 0.25 + norm[i]*float64(dy.s[i]); math.Abs(float64(dg.s[i])-w) > 2e-5*(1+math.Abs(w)) {
					t.Fatalf("LayerNormBackward %s: dgamma[%d] = %v, want %v", name, i, dg.s[i], w)
				}
				if w := -0.5 + float64(dy.s[i]); math.Abs(float64(db.s[i])-w) > 1e-6 {
					t.Fatalf("LayerNormBackward %s: dbeta[%d] = %v, want %v", name, i, db.s[i], w)
				}
			}
			for _, v := range []*vbuf{x, g, b, out, dy, dx, dg, db} {
				v.checkGuards(t, name)
			}
		}
	})
}

// TestLayerNormGradient checks LayerNormBackward against central finite
// differences of LayerNorm in float64-accumulated loss.
func TestLayerNormGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	const n = 37
	x := make([]float32, n)
	g := make([]float32, n)
	b := make([]float32, n)
	w := make([]float32, n) // loss = Σ w·out
	for i := range n {
		x[i], g[i], b[i], w[i] = float32(rng.NormFloat64()), float32(1+0.3*rng.NormFloat64()), float32(rng.NormFloat64()), float32(rng.NormFloat64())
	}
	out := make([]float32, n)
	loss := func() float64 {
		LayerNorm(out, x, g, b, 1e-5)
		var s float64
		for i := range n {
			s += float64(w[i]) * float64(out[i])
		}
		return s
	}
	mean, rstd := LayerNorm(out, x, g, b, 1e-5)
	dx, dg, db := make([]float32, n), make([]float32, n), make([]float32, n)
	LayerNormBackward(dx, dg, db, w, x, mean, rstd, g)
	const h = 1e-2
	for i := range n {
		for _, c := range []struct {
			v    []float32
			grad []float32
			what string
		}{{x, dx, "dx"}, {g, dg, "dgamma"}, {b, db, "dbeta"}} {
			old := c.v[i]
			c.v[i] = old + h
			lp := loss()
			c.v[i] = old - h
			lm := loss()
			c.v[i] = old
			fd := (lp - lm) / (2 * h)
			if math.Abs(fd-float64(c.grad[i])) > 2e-3*(1+math.Abs(fd)) {
				t.Fatalf("%s[%d] = %v, finite difference %v", c.what, i, c.grad[i], fd)
			}
		}
	}
}

// TestLayerNormParamGradSplit: LayerNormParamGrad over slices of rows that
// start on multiples of 64 adds to dgamma and dbeta the same bits as
// LayerNormBackward over the whole rows, for each implementation and for
// row lengths with and without a tail, starting from nonzero sums.
func TestLayerNormParamGradSplit(t *testing.T) {
	forEachVecImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(21, 22))
		for _, n := range []int{64, 200, 256, 263} {
			const rows = 5
			x, dy := make([]float32, rows*n), make([]float32, rows*n)
			for i := range x {
				x[i], dy[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
			}
			g := make([]float32, n)
			dg0, db0 := make([]float32, n), make([]float32, n)
			for i := range n {
				g[i], dg0[i], db0[i] = float32(1+0.3*rng.NormFloat64()), float32(rng.NormFloat64()), float32(rng.NormFloat64())
			}
			out := make([]float32, n)
			stats := make([]float32, 2*rows)
			for r := range rows {
				stats[2*r], stats[2*r+1] = LayerNorm(out, x[r*n:(r+1)*n], g, g, 1e-5)
			}
			dgW, dbW := append([]float32(nil), dg0...), append([]float32(nil), db0...)
			dx := make([]float32, n)
			for r := range rows {
				LayerNormBackward(dx, dgW, dbW, dy[r*n:(r+1)*n], x[r*n:(r+1)*n], stats[2*r], stats[2*r+1], g)
			}
			dgS, dbS := append([]float32(nil), dg0...), append([]float32(nil), db0...)
			for c0 := 0; c0 < n; c0 += 64 {
				c1 := min(c0+64, n)
				for r := range rows {
					o := r * n
					LayerNormParamGrad(dgS[c0:c1], dbS[c0:c1], dy[o+c0:o+c1], x[o+c0:o+c1], stats[2*r], stats[2*r+1])
				}
			}
			for i := range n {
				if math.Float32bits(dgW[i]) != math.Float32bits(dgS[i]) || math.Float32bits(dbW[i]) != math.Float32bits(dbS[i]) {
					t.Fatalf("n=%d column %d: dgamma %v, dbeta %v by slices; %v, %v by whole rows", n, i, dgS[i], dbS[i], dgW[i], dbW[i])
				}
				if dgW[i] == dg0[i] || dbW[i] == db0[i] {
					t.Fatalf("n=%d column %d: nothing was added", n, i)
				}
			}
		}
	})
}

func TestVecAllocs(t *testing.T) {
	x := make([]float32, 100)
	y := make([]float32, 100)
	d := make([]float32, 100)
	for i := range x {
		x[i], y[i] = float32(i)/50, 1
	}
	forEachVecImpl(t, func(t *testing.T) {
		allocs := testing.AllocsPerRun(10, func() {
			Axpy(2, x, y)
			Scale(0.5, y)
			Add(d, x, y)
			Mul(d, x, y)
			_ = Dot(x, y) + Sum(x) + Max(x)
			Exp(d, x)
			Softmax(d)
			Tanh(d, x)
			Sigmoid(d, x)
			m, r := LayerNorm(d, x, y, y, 1e-5)
			LayerNormBackward(d, y, y, x, x, m, r, y)
		})
		if allocs != 0 {
			t.Fatalf("%v allocations per run, want 0", allocs)
		}
	})
}

func TestVecLengthMismatchPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Add with mismatched lengths did not panic")
		}
	}()
	Add(make([]float32, 3), make([]float32, 3), make([]float32, 2))
}

// TestParallelRange covers every index exactly once, whatever the split.
func TestParallelRange(t *testing.T) {
	for _, nt := range []int{1, 2, 3} {
		prev := SetThreads(nt)
		for _, n := range []int{0, 1, 7, 100, 1000, 4099} {
			for _, grain := range []int{1, 10, 5000} {
				seen := make([]int32, n)
				ParallelRange(n, grain, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						seen[i]++
					}
				})
				for i, s := range seen {
					if s != 1 {
						t.Fatalf("threads %d n %d grain %d: index %d done %d times", nt, n, grain, i, s)
					}
				}
			}
		}
		SetThreads(prev)
	}
}
