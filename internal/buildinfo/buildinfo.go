// Package buildinfo says which build of qkv is running: the module version,
// the commit it was built from (with "+dirty" when the work tree had
// changes), and the Go toolchain, as the go command stamps them into every
// binary (runtime/debug.ReadBuildInfo). `qkv version` prints it, and every
// run records it in run.json, so a model says which qkv trained it.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Info is what the binary knows about its own build.
type Info struct {
	Version  string // the main module's version: a tag, a pseudo-version or "(devel)"
	Revision string // the VCS commit, "" when not stamped (go test, go run of a file list)
	Time     string // the commit's time, RFC 3339
	Modified bool   // the work tree had uncommitted changes
	Go       string // the toolchain, e.g. go1.26.8
	Platform string // GOOS/GOARCH
	CGO      bool   // built with cgo (qkv's releases are not)
}

// Read returns the running binary's build information; fields the build
// did not stamp are left empty.
func Read() Info {
	in := Info{Version: "(devel)", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return in
	}
	if v := bi.Main.Version; v != "" {
		in.Version = v
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.time":
			in.Time = s.Value
		case "vcs.modified":
			in.Modified = s.Value == "true"
		case "CGO_ENABLED":
			in.CGO = s.Value == "1"
		}
	}
	return in
}

// String is the one-line form: "qkv VERSION (REVISION[+dirty] TIME, GO PLATFORM)",
// e.g. "qkv v0.3.0 (c00e29d1f2a3 2026-12-03T08:12:00Z, go1.26.8 linux/amd64)";
// the revision is left out when the version (a pseudo-version) holds it.
func (in Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "qkv %s (", in.Version)
	if in.Revision != "" {
		rev := in.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		// Since Go 1.24 a build in a work tree has a pseudo-version that
		// already holds the revision and "+dirty"; say them once.
		if !strings.Contains(in.Version, rev) {
			b.WriteString(rev)
			if in.Modified {
				b.WriteString("+dirty")
			}
			b.WriteString(" ")
		}
		if in.Time != "" {
			b.WriteString(in.Time)
		}
		b.WriteString(", ")
	}
	fmt.Fprintf(&b, "%s %s", in.Go, in.Platform)
	if in.CGO {
		b.WriteString(", cgo")
	}
	b.WriteString(")")
	return b.String()
}
