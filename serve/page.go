package serve

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The web page is three hand-written files in web/, embedded in the
// binary: nothing is built, and nothing is fetched from elsewhere at run
// time (the Content-Security-Policy forbids it). index.html names the
// other files with ?v=VERSION, a hash of the files, so a browser may keep
// them for a year: a new binary with other files has another version.
// The page itself is revalidated on every visit (ETag).

//go:embed web/index.html web/app.js web/style.css
var webFiles embed.FS

// asset is one file of the page, ready to serve.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

// pageAssets reads the embedded files once: "/" is the page, the others
// are by their name under /static/.
var pageAssets = sync.OnceValue(func() map[string]*asset {
	files := map[string][]byte{}
	h := sha256.New()
	fs.WalkDir(webFiles, "web", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := webFiles.ReadFile(p)
		if err != nil {
			panic(err) // embedded: cannot fail
		}
		files[path.Base(p)] = b
		fmt.Fprintf(h, "%s %d\n", p, len(b))
		h.Write(b)
		return nil
	})
	version := hex.EncodeToString(h.Sum(nil))[:12]
	out := map[string]*asset{}
	for name, b := range files {
		if name == "index.html" {
			b = bytes.ReplaceAll(b, []byte("{{version}}"), []byte(version))
			name = "/"
		}
		sum := sha256.Sum256(b)
		out[name] = &asset{body: b, ctype: contentType(name), etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	out["version"] = &asset{body: []byte(version)}
	return out
})

// PageVersion is the version the page gives its files (?v=…).
func PageVersion() string { return string(pageAssets()["version"].body) }

func contentType(name string) string {
	switch {
	case name == "/" || strings.HasSuffix(name, ".html"):
		return "text/html; charset=utf-8"
	case strings.HasSuffix(name, ".js"):
		return "text/javascript; charset=utf-8"
	case strings.HasSuffix(name, ".css"):
		return "text/css; charset=utf-8"
	}
	return "application/octet-stream"
}

// pageCSP lets the page load its own files and talk to its own API, and
// nothing else; data: and blob: images are the page's own SVG drawn onto a
// canvas to save it as PNG.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// serveAsset writes a with its content type, caching headers and the
// page's security headers; a request with the current ETag gets 304.
func serveAsset(w http.ResponseWriter, r *http.Request, a *asset, cache string) int {
	hd := w.Header()
	hd.Set("Content-Type", a.ctype)
	hd.Set("Cache-Control", cache)
	hd.Set("ETag", a.etag)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Content-Security-Policy", pageCSP)
	sw := &statusWriter{ResponseWriter: w}
	http.ServeContent(sw, r, "", time.Time{}, bytes.NewReader(a.body))
	return sw.status()
}

// handlePage answers GET /: the page. It needs no model: it asks
// GET /v1/models once it is loaded.
func (s *Server) handlePage(w http.ResponseWriter, r *http.Request) int {
	return serveAsset(w, r, pageAssets()["/"], "no-cache")
}

// handleStatic answers GET /static/NAME: a file of the page, kept for a
// year when asked for with the current ?v=, else revalidated each time.
func (s *Server) handleStatic(w http.ResponseWriter, r *http.Request) int {
	name := strings.TrimPrefix(r.URL.Path, "/static/")
	a, ok := pageAssets()[name]
	if !ok || name == "/" || name == "version" || name == "index.html" {
		return writeError(w, http.StatusNotFound, APIError{Code: CodeNotFound,
			Message: fmt.Sprintf("no file %s: the page's files are /static/app.js and /static/style.css", strconv.Quote(r.URL.Path))})
	}
	cache := "no-cache"
	if r.URL.Query().Get("v") == PageVersion() {
		cache = "public, max-age=31536000, immutable"
	}
	return serveAsset(w, r, a, cache)
}
