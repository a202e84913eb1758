package kernels

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

var long = flag.Bool("long", false, "run the long conformance sweeps")

// forEachImpl runs f once per implementation this CPU has (best first, then
// "generic"), with that implementation selected.
func forEachImpl(t *testing.T, f func(t *testing.T, g *gemmImpl)) {
	for _, name := range Impls() {
		t.Run(name, func(t *testing.T) {
			prev, err := SetImpl(name)
			if err != nil {
				t.Fatal(err)
			}
			defer SetImpl(prev)
			f(t, cur.gemm)
		})
	}
}

const guardVal = float32(-12345.5) // written around every buffer; must survive

// guarded returns a slice of n values from rng inside a larger buffer whose
// guard cells hold guardVal; check(buf) verifies the guards.
func guarded(rng *rand.Rand, n int, fill float32, random bool) (full, s []float32) {
	const g = 37
	full = make([]float32, n+2*g)
	for i := range full {
		full[i] = guardVal
	}
	s = full[g : g+n : g+n]
	for i := range s {
		if random {
			s[i] = float32(rng.Float64()*2 - 1)
		} else {
			s[i] = fill
		}
	}
	return full, s
}

func checkGuards(t *testing.T, what string, full []float32, n int) {
	t.Helper()
	const g = 37
	for i := 0; i < g; i++ {
		if full[i] != guardVal || full[g+n+i] != guardVal {
			t.Fatalf("%s: guard overwritten (before[%d]=%v after[%d]=%v)", what, i, full[i], i, full[g+n+i])
		}
	}
}

// refGemm is the reference loop in float64; it also returns, per element,
// Σ|α·a·b| + |β·c|, the scale of the rounding error a float32 result may have.
func refGemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) (want, scale []float64) {
	want = make([]float64, m*n)
	scale = make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, sa float64
			for p := 0; p < k; p++ {
				var av, bv float64
				if transA {
					av = float64(a[p*lda+i])
				} else {
					av = float64(a[i*lda+p])
				}
				if transB {
					bv = float64(b[j*ldb+p])
				} else {
					bv = float64(b[p*ldb+j])
				}
				s += av * bv
				sa += math.Abs(av * bv)
			}
			w := float64(alpha) * s
			sc := math.Abs(float64(alpha)) * sa
			if beta != 0 {
				w += float64(beta) * float64(c[i*ldc+j])
				sc += math.Abs(float64(beta) * float64(c[i*ldc+j]))
			}
			want[i*n+j] = w
			scale[i*n+j] = sc
		}
	}
	return want, scale
}

type abCase struct{ alpha, beta float32 }

var abCases = []abCase{{1, 0}, {1, 1}, {-0.75, 0}, {0.5, -1.25}, {0, 0.5}, {0, 0}, {2, 1}}

// checkOneGemm runs Sgemm on one shape with guard cells around A, B and C and
// gaps (ld > cols) in all three, and compares with refGemm.
func checkOneGemm(t *testing.T, rng *rand.Rand, transA, transB bool, m, n, k int, ab abCase, pad int) {
	t.Helper()
	ra, ca := m, k
	if transA {
		ra, ca = k, m
	}
	rb, cb := k, n
	if transB {
		rb, cb = n, k
	}
	lda, ldb, ldc := ca+pad, cb+pad, n+pad
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
	// The gaps between C's rows must not be touched either.
	for i := 0; i < m; i++ {
		for j := n; j < ldc && i*ldc+j < cn; j++ {
			c[i*ldc+j] = guardVal
		}
	}
	if lda == 0 {
		lda = 1
	}
	if ldb == 0 {
		ldb = 1
	}
	if ldc == 0 {
		ldc = 1
	}
	want, scale := refGemm(transA, transB, m, n, k, ab.alpha, a, lda, b, ldb, ab.beta, c, ldc)
	Sgemm(transA, transB, m, n, k, ab.alpha, a, lda, b, ldb, ab.beta, c, ldc)
	name := fmt.Sprintf("ta=%v tb=%v m=%d n=%d k=%d α=%v β=%v pad=%d", transA, transB, m, n, k, ab.alpha, ab.beta, pad)
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
			got := float64(c[i*ldc+j])
			w, sc := want[i*n+j], scale[i*n+j]
			tol := 2e-7*float64(k+4)*sc + 1e-30
			if !(math.Abs(got-w) <= tol) {
				t.Fatalf("%s: C[%d,%d] = %v, want %v (tol %g)", name, i, j, got, w, tol)
			}
		}
	}
}

// edges returns 0..3 and the values around each multiple of unit up to n.
func edges(unit, upto int) []int {
	seen := map[int]bool{}
	var out []int
	add := func(v int) {
		if v >= 0 && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	for v := 0; v <= 3; v++ {
		add(v)
	}
	for e := unit; e <= upto; e += unit {
		add(e - 1)
		add(e)
		add(e + 1)
	}
	return out
}

func TestSgemmConformance(t *testing.T) {
	forEachImpl(t, func(t *testing.T, g *gemmImpl) {
		rng := rand.New(rand.NewPCG(1, 2))
		defer SetThreads(SetThreads(1))
		// Every m in 0..2mr+1 and n in 0..2nr+1 for a k that crosses kc, all
		// four transposes, one α/β case per shape in rotation.
		ks := []int{1, g.kc + 3}
		ci := 0
		for _, k := range ks {
			for tr := 0; tr < 4; tr++ {
				for m := 0; m <= 2*g.mr+1; m++ {
					for n := 0; n <= 2*g.nr+1; n++ {
						if !*long && (m > 3 && m%g.mr > 1 && m%g.mr < g.mr-1) && (n > 3 && n%g.nr > 1 && n%g.nr < g.nr-1) {
							continue // interior of both tile sizes: covered by -long
						}
						ab := abCases[ci%len(abCases)]
						ci++
						checkOneGemm(t, rng, tr&1 != 0, tr&2 != 0, m, n, k, ab, ci%3)
					}
				}
			}
		}
		// Every k in 0..kc+2 at tile edges, every α/β case; also with few
		// rows (the unpacked path for m ≤ 8, where there is one).
		for k := 0; k <= g.kc+2; k++ {
			if !*long && k > 34 && k < g.kc-2 && k%17 != 0 {
				continue
			}
			for tr := 0; tr < 4; tr++ {
				ab := abCases[ci%len(abCases)]
				ci++
				checkOneGemm(t, rng, tr&1 != 0, tr&2 != 0, g.mr+1, g.nr-1, k, ab, 1)
				checkOneGemm(t, rng, tr&1 != 0, tr&2 != 0, 1+k%8, 2*g.nr+5, k, ab, 2)
			}
		}
		for _, ab := range abCases {
			for tr := 0; tr < 4; tr++ {
				checkOneGemm(t, rng, tr&1 != 0, tr&2 != 0, 2*g.mr+1, 2*g.nr+3, 2*g.kc+1, ab, 2)
			}
		}
		// Few rows and many columns: the strips of the unpacked path.
		for m := 1; m <= 9; m++ {
			for _, n := range []int{127, 128, 129, 191, 257} {
				for tr := 0; tr < 4; tr++ {
					ab := abCases[ci%len(abCases)]
					ci++
					checkOneGemm(t, rng, tr&1 != 0, tr&2 != 0, m, n, 1+ci%20, ab, ci%3)
				}
			}
		}
	})
}

// TestSgemmBlocks crosses the mc and nc blocks and runs on 1 and 2 threads.
func TestSgemmBlocks(t *testing.T) {
	forEachImpl(t, func(t *testing.T, g *gemmImpl) {
		rng := rand.New(rand.NewPCG(3, 4))
		for _, nt := range []int{1, 2, 3} {
			prev := SetThreads(nt)
			for tr := 0; tr < 4; tr++ {
				ab := abCases[tr%len(abCases)]
				checkOneGemm(t, rng, tr&1 != 0, tr&2 != 0, g.mc+g.mr+1, 2*g.nr+5, 9, ab, 3)
				checkOneGemm(t, rng, tr&1 != 0, tr&2 != 0, 2*g.mr+3, g.nc+g.nr+1, 7, ab, 1)
				checkOneGemm(t, rng, tr&1 != 0, tr&2 != 0, 3*g.mr+1, 5*g.nr+1, g.kc+1, abCases[(tr+3)%len(abCases)], 0)
				checkOneGemm(t, rng, tr&1 != 0, tr&2 != 0, 97, 131, 67, abCases[(tr+1)%len(abCases)], 2)
				// Rows to spare and several kc blocks: B packed once for all.
				checkOneGemm(t, rng, tr&1 != 0, tr&2 != 0, 2*g.mc+5, 3*g.nr+1, 2*g.kc+3, abCases[(tr+2)%len(abCases)], 1)
			}
			// Several nc blocks with B packed once for all.
			checkOneGemm(t, rng, false, true, g.nc+g.mr+3, g.nc+2, 3, abCases[nt%len(abCases)], 1)
			SetThreads(prev)
		}
	})
}

func TestSgemmStrided(t *testing.T) {
	forEachImpl(t, func(t *testing.T, g *gemmImpl) {
		rng := rand.New(rand.NewPCG(5, 6))
		for _, nt := range []int{1, 2} {
			prev := SetThreads(nt)
			for _, sh := range [][4]int{{20, 20, 64, 37}, {3, 5, 7, 1}, {1, 1, 1, 5}, {0, 4, 4, 3}, {17, 33, 0, 4}, {70, 70, 70, 3}, {13, 40, 50, 11}} {
				m, n, k, batch := sh[0], sh[1], sh[2], sh[3]
				for tr := 0; tr < 4; tr++ {
					ta, tb := tr&1 != 0, tr&2 != 0
					ab := abCases[(tr+batch)%len(abCases)]
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
					if ab.beta == 0 {
						for i := range c {
							c[i] = float32(math.NaN())
						}
					}
					type res struct{ w, s []float64 }
					var refs []res
					for i := 0; i < batch; i++ {
						w, s := refGemm(ta, tb, m, n, k, ab.alpha, a[i*sa:], lda, b[i*sb:], ldb, ab.beta, c[i*sc:], ldc)
						refs = append(refs, res{w, s})
					}
					c0 := append([]float32(nil), c...)
					SgemmStrided(ta, tb, m, n, k, ab.alpha, a, lda, sa, b, ldb, sb, ab.beta, c, ldc, sc, batch)
					name := fmt.Sprintf("threads=%d ta=%v tb=%v m=%d n=%d k=%d batch=%d", nt, ta, tb, m, n, k, batch)
					checkGuards(t, name, aFull, len(a))
					checkGuards(t, name, bFull, len(b))
					checkGuards(t, name, cFull, len(c))
					for bi := 0; bi < batch; bi++ {
						for i := 0; i < sc; i++ {
							r, col := i/ldc, i%ldc
							got := c[bi*sc+i]
							if r >= m || col >= n {
								if !(got == c0[bi*sc+i] || (got != got && c0[bi*sc+i] != c0[bi*sc+i])) {
									t.Fatalf("%s: C_%d[%d] outside the matrix changed", name, bi, i)
								}
								continue
							}
							w, s := refs[bi].w[r*n+col], refs[bi].s[r*n+col]
							if !(math.Abs(float64(got)-w) <= 2e-7*float64(k+4)*s+1e-30) {
								t.Fatalf("%s: C_%d[%d,%d] = %v, want %v", name, bi, r, col, got, w)
							}
						}
					}
				}
			}
			SetThreads(prev)
		}
	})
}

func TestSgemmPanicsOnShortSlices(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a too-short C")
		}
	}()
	a := make([]float32, 4*4)
	Sgemm(false, false, 4, 4, 4, 1, a, 4, a, 4, 0, make([]float32, 15), 4)
}

func TestImpls(t *testing.T) {
	names := Impls()
	if len(names) == 0 || names[len(names)-1] != "generic" {
		t.Fatalf("Impls() = %v, want generic last", names)
	}
	if Impl() != names[0] {
		t.Fatalf("Impl() = %q, want the best, %q", Impl(), names[0])
	}
	if _, err := SetImpl("no-such"); err == nil {
		t.Fatal("SetImpl accepted an unknown name")
	}
}

// TestSgemmRowsUpTo70 runs every m from 1 to 70 (the few-row path, its
// packed-Bᵀ variant up to 64 rows and the packed path past them) against the
// reference, all four transposes, with n around the strip and tile widths
// of every implementation, odd k, gaps in all three matrices and every α/β
// case in rotation. The n = 64, k = 512 and 513 cases straddle the size of
// B up to which products with many rows skip packing.
func TestSgemmRowsUpTo70(t *testing.T) {
	forEachImpl(t, func(t *testing.T, g *gemmImpl) {
		rng := rand.New(rand.NewPCG(7, 8))
		defer SetThreads(SetThreads(1))
		ns := []int{1, 3, 7, 8, 9, 17, 23, 24, 25, 33, 47, 63, 64, 65, 97}
		ks := []int{1, 3, 8, 13, 31, 67, 257}
		ci := 0
		for m := 1; m <= 70; m++ {
			for tr := 0; tr < 4; tr++ {
				for ni, n := range ns {
					if !*long && m > 12 && (m+ni+tr)%4 != 0 {
						continue // a quarter of the larger m's: -long runs all
					}
					ab := abCases[ci%len(abCases)]
					checkOneGemm(t, rng, tr&1 != 0, tr&2 != 0, m, n, ks[ci%len(ks)], ab, 1+ci%2)
					ci++
				}
				for _, k := range []int{512, 513} {
					if m%7 == 1 || m == 64 || m == 65 {
						checkOneGemm(t, rng, tr&1 != 0, tr&2 != 0, m, 64, k, abCases[ci%len(abCases)], ci%2)
						ci++
					}
				}
			}
		}
	})
}

// TestPackers checks every implementation's packers against packAGeneric
// and packBGeneric at its own panel sizes: all transposes, whole and partial
// panels, offsets into the source, kb below, at and past the vector widths,
// leading dimensions wider than the block. dst starts as NaNs, so padding
// that is not written shows.
func TestPackers(t *testing.T) {
	for _, im := range impls {
		g := im.gemm
		if g.packedK != nil || (g.packA == nil && g.packB == nil) {
			continue // bf16 packers: TestBgemmPackers
		}
		t.Run(g.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(9, 10))
			for _, side := range []string{"A", "B"} {
				pack, ref, w := g.packA, packAGeneric, g.mr
				if side == "B" {
					pack, ref, w = g.packB, packBGeneric, g.nr
				}
				if pack == nil {
					continue
				}
				for _, tr := range []bool{false, true} {
					for _, kb := range []int{1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100} {
						for _, nb := range []int{1, 2, 3, 4, 5, w - 1, w, w + 1, 2*w + 3, 5 * w} {
							if nb < 1 {
								continue
							}
							// The block starts at row/column 2 and 3 of a source
							// with 5 spare columns.
							const o1, o2 = 2, 3
							rows, cols := o1+nb, o2+kb // A not transposed, B transposed: nb×kb
							if side == "A" == tr {
								rows, cols = o2+kb, o1+nb
							}
							ld := cols + 5
							src := make([]float32, rows*ld)
							for i := range src {
								src[i] = float32(rng.Float64()*2 - 1)
							}
							size := roundUp(nb, w) * kb
							// Seven guard cells after the panels must survive.
							got := make([]float32, size+7)
							want := make([]float32, size+7)
							for i := range got {
								got[i], want[i] = float32(math.NaN()), float32(math.NaN())
								if i >= size {
									got[i], want[i] = guardVal, guardVal
								}
							}
							if side == "A" {
								pack(tr, src, ld, o1, o2, nb, kb, w, got[:size])
								ref(tr, src, ld, o1, o2, nb, kb, w, want[:size])
							} else {
								pack(tr, src, ld, o2, o1, kb, nb, w, got[:size])
								ref(tr, src, ld, o2, o1, kb, nb, w, want[:size])
							}
							for i := range got {
								if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
									t.Fatalf("pack%s trans=%v kb=%d nb=%d width %d: [%d] = %v, want %v", side, tr, kb, nb, w, i, got[i], want[i])
								}
							}
						}
					}
				}
			}
		})
	}
}
