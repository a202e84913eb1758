package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// forEachBF16Impl runs f once per bf16 implementation this CPU has, with
// that implementation selected.
func forEachBF16Impl(t *testing.T, f func(t *testing.T, g *gemmImpl)) {
	for _, name := range BF16Impls() {
		t.Run(name, func(t *testing.T) {
			prev, err := SetBF16Impl(name)
			if err != nil {
				t.Fatal(err)
			}
			defer SetBF16Impl(prev)
			f(t, curBF16)
		})
	}
}

func TestBF16Round(t *testing.T) {
	bits := func(x float32) uint32 { return math.Float32bits(x) }
	for _, c := range []struct {
		in, want uint32
	}{
		{0x3f800000, 0x3f800000}, // 1
		{0x3f808000, 0x3f800000}, // 1 + half an ulp: tie, to even (down)
		{0x3f818000, 0x3f820000}, // 1 + 3 half ulps: tie, to even (up)
		{0x3f808001, 0x3f810000}, // just above the tie: up
		{0x3f807fff, 0x3f800000}, // just below: down
		{0xbf80c000, 0xbf810000}, // negative, rounds away from zero in magnitude
		{0x7f7fffff, 0x7f800000}, // the largest float32 rounds to +Inf
		{0x7f800000, 0x7f800000}, // +Inf
		{0xff800000, 0xff800000}, // -Inf
		{0x00000001, 0x00000000}, // subnormal to +0
		{0x807fffff, 0x80000000}, // subnormal to -0
		{0x00800000, 0x00800000}, // the smallest normal stays
		{0x80000000, 0x80000000}, // -0
	} {
		if got := bits(BF16Round(math.Float32frombits(c.in))); got != c.want {
			t.Errorf("BF16Round(%#08x) = %#08x, want %#08x", c.in, got, c.want)
		}
	}
	// A NaN stays a NaN, quiet, with its sign; even one whose payload is all
	// in the lower 16 bits (truncation would make it an infinity).
	for _, in := range []uint32{0x7f800001, 0xff800001, 0x7fc00000, 0x7f80ffff} {
		got := BF16Round(math.Float32frombits(in))
		if got == got || bits(got)&0x00400000 == 0 || bits(got)>>31 != in>>31 {
			t.Errorf("BF16Round(%#08x) = %#08x, want a quiet NaN of the same sign", in, bits(got))
		}
	}
	// Every bfloat16 but the subnormals and NaNs is its own rounding, and
	// every float32 rounds to one of its two bfloat16 neighbours, the nearer.
	for h := range uint32(1 << 16) {
		x := math.Float32frombits(h << 16)
		if h&0x7f80 == 0 || x != x {
			continue
		}
		if got := BF16Round(x); bits(got) != bits(x) {
			t.Fatalf("BF16Round(bfloat16 %#04x) = %#08x", h, bits(got))
		}
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for range 100000 {
		x := math.Float32frombits(rng.Uint32() & 0xbfffffff) // finite
		if math.Float32bits(x)&0x7f800000 == 0 {
			continue
		}
		r := BF16Round(x)
		lo := math.Float32frombits(bits(x) &^ 0xffff)
		hi := math.Float32frombits((bits(x) &^ 0xffff) + 0x10000)
		if r != lo && r != hi {
			t.Fatalf("BF16Round(%v) = %v, not a neighbour (%v, %v)", x, r, lo, hi)
		}
		dr, do := math.Abs(float64(r)-float64(x)), math.Abs(float64(r)-float64(x))
		if r == lo {
			do = math.Abs(float64(hi) - float64(x))
		} else {
			do = math.Abs(float64(lo) - float64(x))
		}
		if dr > do {
			t.Fatalf("BF16Round(%v) = %v, but %v is nearer", x, r, lo+hi-r)
		}
	}
}

// refBgemmExact is Bgemm's reference loop, run as written: it gives the
// bits every implementation must give when beta is 0 or 1.
func refBgemmExact(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) []float32 {
	ar, br := roundAll(a), roundAll(b)
	opA := func(i, p int) float32 {
		if transA {
			return ar[p*lda+i]
		}
		return ar[i*lda+p]
	}
	opB := func(p, j int) float32 {
		if transB {
			return br[j*ldb+p]
		}
		return br[p*ldb+j]
	}
	out := make([]float32, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var cv float32
			if beta != 0 {
				cv = c[i*ldc+j]
			}
			if k == 0 || alpha == 0 {
				out[i*n+j] = beta * cv
				continue
			}
			for p0 := 0; p0 < k; p0 += bf16KC {
				var s float32
				for p := p0; p < min(p0+bf16KC, k); p += 2 {
					if p+1 < k {
						s = ftz(s + opA(i, p+1)*opB(p+1, j))
					}
					s = ftz(s + opA(i, p)*opB(p, j))
				}
				if p0 == 0 && beta == 0 {
					cv = alpha * s
				} else {
					cv = alpha*s + cv // beta is 1 on later blocks
				}
			}
			out[i*n+j] = cv
		}
	}
	return out
}

func roundAll(x []float32) []float32 {
	r := make([]float32, len(x))
	for i, v := range x {
		r[i] = BF16Round(v)
	}
	return r
}

// bf16Tolerances returns, per element of C, float64 references and error
// bounds for Bgemm:
//
//   - wantR: the exact product of the bfloat16-rounded operands (float64 is
//     exact enough); Bgemm may differ from it by float32 accumulation only,
//     at most about (k+4)·2⁻²⁴·Σ|α·a·b| + |β·c| (the Sgemm bound). This is the
//     tight check that the operands were rounded (not truncated, not left
//     alone) and every product counted once.
//   - want: the exact product of the float32 operands. Rounding x to bfloat16
//     (8 significant bits, ties to even) moves it by at most u = 2⁻⁸ of |x|,
//     so a product moves by at most (2u+u²)|a·b| and the sum by at most
//     2⁻⁷(1+2⁻⁹)·Σ|a·b|: a bound that always holds. Random data does much
//     better: the relative errors δ are independent, of mean 0 (ties to
//     even is unbiased) and variance at most u²/3, so the error of the sum
//     Σ a·b·(δa+δb) has a standard deviation of at most
//     u·√(2/3)·√(Σ(a·b)²), which is 2⁻⁸·√k times the typical |a·b| — the
//     "2⁻⁸·√k" scale. Six of those (a chance below 10⁻⁸ for each element)
//     is the statistical bound, checked from k = 16 on; a kernel that
//     truncated instead of rounding would be biased and fail it, its error
//     growing like k instead of √k.
func bf16Tolerances(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) (wantR, tolR, want, tolHard, tolStat []float64) {
	wantR, tolR = make([]float64, m*n), make([]float64, m*n)
	want, tolHard, tolStat = make([]float64, m*n), make([]float64, m*n), make([]float64, m*n)
	ar, br := roundAll(a), roundAll(b)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var sR, s, sa, sq float64
			for p := 0; p < k; p++ {
				ia, ib := i*lda+p, p*ldb+j
				if transA {
					ia = p*lda + i
				}
				if transB {
					ib = j*ldb + p
				}
				av, bv := a[ia], b[ib]
				sR += float64(ar[ia]) * float64(br[ib])
				pr := float64(av) * float64(bv)
				s += pr
				sa += math.Abs(pr)
				sq += pr * pr
			}
			al := float64(alpha)
			var cv, cabs float64
			if beta != 0 {
				cv = float64(beta) * float64(c[i*ldc+j])
				cabs = math.Abs(cv)
			}
			acc := 2e-7 * float64(k+4) * (math.Abs(al)*sa*(1+1.0/128) + cabs)
			x := i*n + j
			wantR[x], tolR[x] = al*sR+cv, acc+1e-30
			want[x] = al*s + cv
			tolHard[x] = math.Abs(al)*sa*(1.0/128)*(1+1.0/512) + acc + 1e-30
			tolStat[x] = 6*math.Abs(al)*(1.0/256)*math.Sqrt(2.0/3)*math.Sqrt(sq) + acc + 1e-30
		}
	}
	return
}

// checkOneBgemm runs Bgemm on one shape with guard cells around A, B and C
// and gaps (ld > cols) in all three, and checks it against
// refBgemmExact (bits, when β is 0 or 1) and bf16Tolerances.
func checkOneBgemm(t *testing.T, rng *rand.Rand, transA, transB bool, m, n, k int, ab abCase, pad int) {
	t.Helper()
	ra, ca := m, k
	if transA {
		ra, ca = k, m
	}
	rb, cb := k, n
	if transB {
		rb, cb = n, k
	}
	lda, ldb, ldc := max(ca+pad, 1), max(cb+pad, 1), max(n+pad, 1)
	sizeOf := func(r, c, ld int) int {
		if r == 0 || c == 0 {
			return 0
		}
		return (r-1)*ld + c
	}
	aFull, a := guarded(rng, sizeOf(ra, ca, lda), 0, true)
	bFull, b := guarded(rng, sizeOf(rb, cb, ldb), 0, true)
	cn := sizeOf(m, n, ldc)
	cFull, c := guarded(rng, cn, 0, true)
	if ab.beta == 0 {
		for i := range c {
			c[i] = float32(math.NaN())
		}
	}
	for i := 0; i < m; i++ {
		for j := n; j < ldc && i*ldc+j < cn; j++ {
			c[i*ldc+j] = guardVal
		}
	}
	exact := refBgemmExact(transA, transB, m, n, k, ab.alpha, a, lda, b, ldb, ab.beta, c, ldc)
	wantR, tolR, want, tolHard, tolStat := bf16Tolerances(transA, transB, m, n, k, ab.alpha, a, lda, b, ldb, ab.beta, c, ldc)
	Bgemm(transA, transB, m, n, k, ab.alpha, a, lda, b, ldb, ab.beta, c, ldc)
	name := fmt.Sprintf("%s ta=%v tb=%v m=%d n=%d k=%d α=%v β=%v pad=%d", BF16Impl(), transA, transB, m, n, k, ab.alpha, ab.beta, pad)
	checkGuards(t, name+" A", aFull, len(a))
	checkGuards(t, name+" B", bFull, len(b))
	checkGuards(t, name+" C", cFull, cn)
	for i := 0; i < m; i++ {
		for j := n; j < ldc && i*ldc+j < cn; j++ {
			if c[i*ldc+j] != guardVal {
				t.Fatalf("%s: C gap [%d,%d] overwritten: %v", name, i, j, c[i*ldc+j])
			}
		}
		for j := 0; j < n; j++ {
			got := c[i*ldc+j]
			x := i*n + j
			if (ab.beta == 0 || ab.beta == 1) && math.Float32bits(got) != math.Float32bits(exact[x]) {
				t.Fatalf("%s: C[%d,%d] = %v (%#08x), the reference loop gives %v (%#08x)", name, i, j, got, math.Float32bits(got), exact[x], math.Float32bits(exact[x]))
			}
			g := float64(got)
			if !(math.Abs(g-wantR[x]) <= tolR[x]) {
				t.Fatalf("%s: C[%d,%d] = %v, want %v from the rounded operands (tol %g)", name, i, j, g, wantR[x], tolR[x])
			}
			if !(math.Abs(g-want[x]) <= tolHard[x]) {
				t.Fatalf("%s: C[%d,%d] = %v, want %v within the bf16 bound %g", name, i, j, g, want[x], tolHard[x])
			}
			if k >= 16 && !(math.Abs(g-want[x]) <= tolStat[x]) {
				t.Fatalf("%s: C[%d,%d] = %v, want %v within 6σ = %g", name, i, j, g, want[x], tolStat[x])
			}
		}
	}
}

func TestBgemmConformance(t *testing.T) {
	forEachBF16Impl(t, func(t *testing.T, g *gemmImpl) {
		rng := rand.New(rand.NewPCG(11, 12))
		defer SetThreads(SetThreads(1))
		ci := 0
		// Every m in 0..2mr+1 and n at tile edges, all four transposes, for a
		// k of one pair, an odd k, and one that crosses bf16KC oddly.
		for _, k := range []int{1, 2, 37, bf16KC + 3} {
			for tr := 0; tr < 4; tr++ {
				for m := 0; m <= 2*g.mr+1; m++ {
					for _, n := range edges(g.nr, 2*g.nr) {
						if !*long && m > 3 && m%g.mr > 1 && m%g.mr < g.mr-1 && n > 3 {
							continue
						}
						ab := abCases[ci%len(abCases)]
						ci++
						checkOneBgemm(t, rng, tr&1 != 0, tr&2 != 0, m, n, k, ab, ci%3)
					}
				}
			}
		}
		// Every k in 0..70 (the packers' 32-column steps and the odd tail)
		// and around bf16KC, every α/β case.
		for k := 0; k <= bf16KC+2; k++ {
			if !*long && k > 70 && k < bf16KC-2 && k%29 != 0 {
				continue
			}
			for tr := 0; tr < 4; tr++ {
				ab := abCases[ci%len(abCases)]
				ci++
				checkOneBgemm(t, rng, tr&1 != 0, tr&2 != 0, g.mr+5, g.nr-1, k, ab, 1)
				checkOneBgemm(t, rng, tr&1 != 0, tr&2 != 0, 1+k%8, 2*g.nr+5, k, ab, 2)
			}
		}
		for _, ab := range abCases {
			for tr := 0; tr < 4; tr++ {
				checkOneBgemm(t, rng, tr&1 != 0, tr&2 != 0, 2*g.mr+1, 2*g.nr+3, 2*bf16KC+1, ab, 2)
			}
		}
	})
}

// TestBgemmBlocks crosses the mc and nc blocks and runs on 1, 2 and 3
// threads: the bits do not depend on how the work is split.
func TestBgemmBlocks(t *testing.T) {
	forEachBF16Impl(t, func(t *testing.T, g *gemmImpl) {
		rng := rand.New(rand.NewPCG(13, 14))
		for _, nt := range []int{1, 2, 3} {
			prev := SetThreads(nt)
			for tr := 0; tr < 4; tr++ {
				ta, tb := tr&1 != 0, tr&2 != 0
				checkOneBgemm(t, rng, ta, tb, g.mc+g.mr+1, 2*g.nr+5, 9, abCases[tr%2], 3)
				checkOneBgemm(t, rng, ta, tb, 2*g.mr+3, g.nc+g.nr+1, 7, abCases[1-tr%2], 1)
				checkOneBgemm(t, rng, ta, tb, 97, 131, 67, abCases[(tr+1)%len(abCases)], 2)
				checkOneBgemm(t, rng, ta, tb, 2*g.mc+5, g.nr+1, bf16KC+3, abCases[tr%2], 1)
			}
			SetThreads(prev)
		}
	})
}

func TestBgemmStrided(t *testing.T) {
	forEachBF16Impl(t, func(t *testing.T, g *gemmImpl) {
		rng := rand.New(rand.NewPCG(15, 16))
		for _, nt := range []int{1, 2} {
			prev := SetThreads(nt)
			for _, sh := range [][4]int{{20, 20, 64, 37}, {3, 5, 7, 1}, {1, 1, 1, 5}, {0, 4, 4, 3}, {17, 33, 0, 4}, {70, 70, 70, 3}, {13, 40, 50, 11}} {
				m, n, k, batch := sh[0], sh[1], sh[2], sh[3]
				for tr := 0; tr < 4; tr++ {
					ta, tb := tr&1 != 0, tr&2 != 0
					ab := abCases[(tr+batch)%2] // β 0 or 1: exact bits
					ra, ca := m, k
					if ta {
						ra, ca = k, m
					}
					rb, cb := k, n
					if tb {
						rb, cb = n, k
					}
					lda, ldb, ldc := ca+1, cb+2, n+3
					sa, sb, sc := ra*lda+5, rb*ldb+1, m*ldc+2
					aFull, a := guarded(rng, sa*batch, 0, true)
					bFull, b := guarded(rng, sb*batch, 0, true)
					cFull, c := guarded(rng, sc*batch, 0, true)
					var refs [][]float32
					for i := 0; i < batch; i++ {
						refs = append(refs, refBgemmExact(ta, tb, m, n, k, ab.alpha, a[i*sa:], lda, b[i*sb:], ldb, ab.beta, c[i*sc:], ldc))
					}
					c0 := append([]float32(nil), c...)
					BgemmStrided(ta, tb, m, n, k, ab.alpha, a, lda, sa, b, ldb, sb, ab.beta, c, ldc, sc, batch)
					name := fmt.Sprintf("threads=%d ta=%v tb=%v m=%d n=%d k=%d batch=%d", nt, ta, tb, m, n, k, batch)
					checkGuards(t, name, aFull, len(a))
					checkGuards(t, name, bFull, len(b))
					checkGuards(t, name, cFull, len(c))
					for bi := 0; bi < batch; bi++ {
						for i := 0; i < sc; i++ {
							r, col := i/ldc, i%ldc
							got := c[bi*sc+i]
							if r >= m || col >= n {
								if math.Float32bits(got) != math.Float32bits(c0[bi*sc+i]) {
									t.Fatalf("%s: C_%d[%d] outside the matrix changed", name, bi, i)
								}
								continue
							}
							if w := refs[bi][r*n+col]; math.Float32bits(got) != math.Float32bits(w) {
								t.Fatalf("%s: C_%d[%d,%d] = %v, the reference loop gives %v", name, bi, r, col, got, w)
							}
						}
					}
				}
			}
			SetThreads(prev)
		}
	})
}

// TestBgemmPackers checks the packers of every implementation against the
// Go ones directly (the products check them too, but a wrong lane is
// easier to read here).
func TestBgemmPackers(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, g := range bf16Impls {
		if g.packA == nil || g.packedK == nil || g.pk(2) != 1 {
			continue // the fallbacks' float32 layout: checked by the products
		}
		for _, kb := range []int{1, 2, 3, 31, 32, 33, 63, 64, 65, 97, bf16KC} {
			for _, nb := range []int{1, 3, 4, 5, 11, 12, 13, 31, 32, 33, 70} {
				for _, tr := range []bool{false, true} {
					src := make([]float32, (max(kb, nb)+10)*(max(kb, nb)+10))
					for i := range src {
						src[i] = float32(rng.NormFloat64())
					}
					ld := max(kb, nb) + 3
					for _, side := range []string{"A", "B"} {
						w := g.mr
						if side == "B" {
							w = g.nr
						}
						size := roundUp(nb, w) * pairsK(kb)
						got, want := make([]float32, size), make([]float32, size)
						for i := range got {
							got[i], want[i] = float32(math.NaN()), float32(math.NaN())
						}
						if side == "A" {
							g.packA(tr, src, ld, 1, 2, nb, kb, w, got)
							packABF16(tr, src, ld, 1, 2, nb, kb, w, want)
						} else {
							g.packB(tr, src, ld, 2, 1, kb, nb, w, got)
							packBBF16(tr, src, ld, 2, 1, kb, nb, w, want)
						}
						for i := range got {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("%s pack%s trans=%v kb=%d nb=%d: [%d] = %#08x, want %#08x", g.name, side, tr, kb, nb, i, math.Float32bits(got[i]), math.Float32bits(want[i]))
							}
						}
					}
				}
			}
		}
	}
}

func TestBF16Impls(t *testing.T) {
	names := BF16Impls()
	if len(names) == 0 || names[len(names)-1] != "generic" {
		t.Fatalf("BF16Impls() = %v, want generic last", names)
	}
	if BF16Impl() != names[0] {
		t.Fatalf("BF16Impl() = %q, want the best, %q", BF16Impl(), names[0])
	}
	if _, err := SetBF16Impl("no-such"); err == nil {
		t.Fatal("SetBF16Impl accepted an unknown name")
	}
}
