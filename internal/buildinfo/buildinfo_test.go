package buildinfo

import (
	"runtime"
	"strings"
	"testing"
)

func TestStringNamesTheBuild(t *testing.T) {
	in := Info{Version: "v0.3.0", Revision: "c00e29d1f2a3b4c5d6e7f8091a2b3c4d5e6f7081", Time: "2026-12-03T08:12:00Z",
		Modified: true, Go: "go1.26.8", Platform: "linux/amd64"}
	want := "qkv v0.3.0 (c00e29d1f2a3+dirty 2026-12-03T08:12:00Z, go1.26.8 linux/amd64)"
	if got := in.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	// A pseudo-version already holds the revision and "+dirty".
	in.Version = "v0.0.0-20261203080935-c00e29d1f2a3+dirty"
	want = "qkv v0.0.0-20261203080935-c00e29d1f2a3+dirty (2026-12-03T08:12:00Z, go1.26.8 linux/amd64)"
	if got := in.String(); got != want {
		t.Errorf("pseudo-version: String() = %q, want %q", got, want)
	}
	in = Info{Version: "(devel)", Go: "go1.26.8", Platform: "linux/arm64", CGO: true}
	want = "qkv (devel) (go1.26.8 linux/arm64, cgo)"
	if got := in.String(); got != want {
		t.Errorf("without a revision: String() = %q, want %q", got, want)
	}
}

// TestReadKnowsTheToolchain: whatever the build stamped, the toolchain and
// platform are the running ones.
func TestReadKnowsTheToolchain(t *testing.T) {
	in := Read()
	if in.Go != runtime.Version() || in.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("Read() = %+v, want Go %s on %s/%s", in, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
	if in.Version == "" || !strings.HasPrefix(in.String(), "qkv "+in.Version+" (") {
		t.Errorf("Read().String() = %q", in.String())
	}
}
