package distill_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/batch"
	"github.com/qkv-dev/qkv/distill"
)

// teacher is the three test models as an ensemble over the identity maps.
func teacher(t testing.TB) []distill.Member {
	var members []distill.Member
	for _, m := range models(t) {
		members = append(members, distill.Member{Model: m, Src: identity(srcV), Tgt: identity(tgtV)})
	}
	return members
}

func sameTargets(t *testing.T, got, want *distill.Targets) {
	t.Helper()
	if got.K != want.K || got.Len() != want.Len() {
		t.Fatalf("read K = %d, %d examples; wrote K = %d, %d", got.K, got.Len(), want.K, want.Len())
	}
	for i := range want.Len() {
		gi, gp := got.Example(i)
		wi, wp := want.Example(i)
		if !slices.Equal(gi, wi) || !slices.Equal(gp, wp) {
			t.Fatalf("example %d: read %v %v, wrote %v %v", i, gi, gp, wi, wp)
		}
	}
}

// TestTargetsFileRoundTrip: what WriteFile writes, ReadFile reads back bit
// for bit under the same key; under another key it is stale; cut short or
// with one byte changed anywhere it is refused, never half read.
func TestTargetsFileRoundTrip(t *testing.T) {
	members := teacher(t)
	ex := examples(30)
	want, err := distill.Compute(context.Background(), members, tgtV, ex, distill.Options{K: 4, MaxTokens: 40})
	if err != nil {
		t.Fatal(err)
	}
	fp, err := distill.Fingerprint(members)
	if err != nil {
		t.Fatal(err)
	}
	key := distill.Key(fp, ex, 4)
	path := filepath.Join(t.TempDir(), distill.File)
	if err := want.WriteFile(path, key); err != nil {
		t.Fatal(err)
	}
	got, err := distill.ReadFile(path, key, tgtV)
	if err != nil {
		t.Fatal(err)
	}
	sameTargets(t, got, want)
	if _, err := distill.ReadFile(path, distill.Key(fp, ex, 5), tgtV); !errors.Is(err, distill.ErrStale) {
		t.Errorf("read under another K's key: %v, want ErrStale", err)
	}
	if _, err := distill.ReadFile(path, key, 3); err == nil || !strings.Contains(err.Error(), "symbols") {
		t.Errorf("read for a vocabulary of 3 symbols: %v", err)
	}

	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	damaged := filepath.Join(t.TempDir(), "damaged")
	for _, at := range []int{0, 7, 9, 200, len(raw) / 2, len(raw) - 40, len(raw) - 1} {
		b := slices.Clone(raw)
		b[at] ^= 0x10
		if err := os.WriteFile(damaged, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := distill.ReadFile(damaged, key, tgtV); err == nil || errors.Is(err, distill.ErrStale) {
			t.Errorf("byte %d of %d changed: read with error %v", at, len(raw), err)
		}
	}
	for _, n := range []int{0, 5, 40, len(raw) - 33, len(raw) - 1} {
		if err := os.WriteFile(damaged, raw[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := distill.ReadFile(damaged, key, tgtV); err == nil || errors.Is(err, distill.ErrStale) {
			t.Errorf("cut to %d of %d bytes: read with error %v", n, len(raw), err)
		}
	}
	if _, err := distill.ReadFile(filepath.Join(t.TempDir(), "none"), key, tgtV); !os.IsNotExist(err) {
		t.Errorf("a missing file: %v, want a not-exist error", err)
	}
}

// TestFingerprintAndKey: the fingerprint changes with any weight, any id
// map and the members' order, and not otherwise; the key with the teacher,
// K and any id of any example.
func TestFingerprintAndKey(t *testing.T) {
	fp := func(m []distill.Member) string {
		s, err := distill.Fingerprint(m)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a := teacher(t)
	base := fp(a)
	if again := fp(teacher(t)); again != base {
		t.Errorf("the same teacher built twice: %s and %s", base, again)
	}
	p := a[1].Model.Params()[3]
	p.Data[len(p.Data)/2] += 1e-6
	if fp(a) == base {
		t.Errorf("a weight of %s changed by 1e-6: the fingerprint did not", p.Name)
	}
	b := teacher(t)
	b[2].Tgt = slices.Clone(b[2].Tgt)
	b[2].Tgt[5], b[2].Tgt[6] = b[2].Tgt[6], b[2].Tgt[5]
	if fp(b) == base {
		t.Error("two target ids swapped in one member's map: the fingerprint did not change")
	}
	c := teacher(t)
	c[0], c[1] = c[1], c[0]
	if fp(c) == base {
		t.Error("the members reordered: the fingerprint did not change")
	}

	ex := examples(10)
	key := distill.Key(base, ex, 8)
	other := slices.Clone(ex)
	other[7] = batch.Example{Src: other[7].Src, Tgt: slices.Clone(other[7].Tgt)}
	other[7].Tgt[0]++
	for what, k := range map[string]string{
		"another teacher":  distill.Key(fp(a), ex, 8),
		"another K":        distill.Key(base, ex, 7),
		"one id changed":   distill.Key(base, other, 8),
		"one example less": distill.Key(base, ex[:9], 8),
	} {
		if k == key {
			t.Errorf("%s: the same key", what)
		}
	}
	if distill.Key(base, examples(10), 8) != key {
		t.Error("the same teacher, examples and K: another key")
	}
}
