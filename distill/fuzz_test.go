package distill_test

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"github.com/qkv-dev/qkv/distill"
)

// FuzzReadTargets: whatever a teacher.targets file holds, ReadFile returns
// targets or an error, never panics, and what it returns is sound: every
// example's rows within the targets, every id within the vocabulary. The
// fuzzer writes the body and the file ends with its true checksum, so that
// the parsing behind the checksum is what gets explored (TestTargetsFileRoundTrip
// checks that a wrong checksum is refused).
func FuzzReadTargets(f *testing.F) {
	members := teacher(f)
	ex := examples(6)
	good, err := distill.Compute(context.Background(), members, tgtV, ex, distill.Options{K: 3, MaxTokens: 40})
	if err != nil {
		f.Fatal(err)
	}
	dir := f.TempDir()
	seed := filepath.Join(dir, "seed")
	if err := good.WriteFile(seed, "key"); err != nil {
		f.Fatal(err)
	}
	raw, err := os.ReadFile(seed)
	if err != nil {
		f.Fatal(err)
	}
	body := raw[:len(raw)-sha256.Size]
	f.Add(body)
	f.Add(body[:len(body)/2])
	f.Add([]byte("qkvtgts\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), distill.File)
		sum := sha256.Sum256(b)
		if err := os.WriteFile(path, append(b, sum[:]...), 0o644); err != nil {
			t.Fatal(err)
		}
		tg, err := distill.ReadFile(path, "key", tgtV)
		if err != nil {
			return
		}
		for i := range tg.Len() {
			ids, p := tg.Example(i)
			if len(ids) != len(p) || len(ids)%tg.K != 0 {
				t.Fatalf("example %d: %d ids, %d probabilities, K = %d", i, len(ids), len(p), tg.K)
			}
			for _, id := range ids {
				if id < 0 || id >= tgtV {
					t.Fatalf("example %d holds id %d", i, id)
				}
			}
		}
	})
}
