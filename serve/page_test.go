package serve

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

func getPage(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	must(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	must(t, err)
	return resp, string(body)
}

// TestPage: GET / is the page, its files are under /static/ with their
// content types; the page is revalidated on each visit (ETag, 304), its
// files kept for a year when asked for with the current version; the
// page loads nothing from elsewhere (CSP, and no other origin in the
// files); unknown files are 404 in JSON.
func TestPage(t *testing.T) {
	_, hs := newTestServer(t, Config{})
	resp, page := getPage(t, hs.URL+"/")
	h := resp.Header
	if resp.StatusCode != 200 || h.Get("Content-Type") != "text/html; charset=utf-8" || h.Get("Cache-Control") != "no-cache" ||
		h.Get("ETag") == "" || h.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") ||
		!strings.Contains(h.Get("Content-Security-Policy"), "connect-src 'self'") || h.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("GET /: %d %v", resp.StatusCode, h)
	}
	v := PageVersion()
	for _, want := range []string{`<script src="/static/app.js?v=` + v + `"`, `href="/static/style.css?v=` + v + `"`, `id="input"`, `id="heatmap"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(page, "{{") {
		t.Error("the page holds a placeholder")
	}
	if r, body := getPage(t, hs.URL+"/", "If-None-Match", h.Get("ETag")); r.StatusCode != http.StatusNotModified || body != "" {
		t.Errorf("GET / with its ETag: %d, %d bytes", r.StatusCode, len(body))
	}
	req, _ := http.NewRequest(http.MethodHead, hs.URL+"/", nil)
	r, err := http.DefaultClient.Do(req)
	must(t, err)
	r.Body.Close()
	if r.StatusCode != 200 || r.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("HEAD /: %d %v", r.StatusCode, r.Header)
	}

	offsite := regexp.MustCompile(`(?i:(https?:)?//[a-z0-9.-]+\.[a-z]{2,})|@import|url\(`)
	for _, tc := range []struct{ path, ctype string }{
		{"/static/app.js", "text/javascript; charset=utf-8"},
		{"/static/style.css", "text/css; charset=utf-8"},
	} {
		r, body := getPage(t, hs.URL+tc.path+"?v="+v)
		if r.StatusCode != 200 || r.Header.Get("Content-Type") != tc.ctype || r.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || len(body) < 500 {
			t.Errorf("GET %s?v=%s: %d %v, %d bytes", tc.path, v, r.StatusCode, r.Header, len(body))
		}
		// Another (an older page's) version is not kept.
		if r, _ := getPage(t, hs.URL+tc.path+"?v=old"); r.StatusCode != 200 || r.Header.Get("Cache-Control") != "no-cache" {
			t.Errorf("GET %s?v=old: %d %v", tc.path, r.StatusCode, r.Header)
		}
		for _, m := range offsite.FindAllString(body, -1) {
			if m != "http://www.w3.org" && m != "//www.w3.org" { // the SVG namespace names no place to load
				t.Errorf("%s refers to another origin: %s", tc.path, m)
			}
		}
	}
	for _, m := range offsite.FindAllString(page, -1) {
		t.Errorf("the page refers to another origin: %s", m)
	}
	for _, path := range []string{"/static/nope.js", "/static/index.html", "/static/../server.go", "/static/version"} {
		r, body := getPage(t, hs.URL+path)
		if r.StatusCode != 404 || apiError(t, []byte(body)).Code != CodeNotFound {
			t.Errorf("GET %s: %d %s", path, r.StatusCode, body)
		}
	}
	req, _ = http.NewRequest(http.MethodPost, hs.URL+"/static/app.js", strings.NewReader("{}"))
	r, err = http.DefaultClient.Do(req)
	must(t, err)
	r.Body.Close()
	if r.StatusCode != 405 || r.Header.Get("Allow") != "GET" {
		t.Errorf("POST /static/app.js: %d", r.StatusCode)
	}
}

// TestPageNeedsNoModel: the page is served while every request slot is
// taken (as it is not one of the API's requests) and while the server
// drains: a user always gets the page, and the page reports the API's
// answers.
func TestPageNeedsNoModel(t *testing.T) {
	s, hs := newTestServer(t, Config{MaxConcurrent: 1})
	s.slots <- struct{}{} // a request in flight
	if code, body := post(t, hs.URL+"/v1/explain", `{"input": "abc", "query_token": 0}`); code != http.StatusTooManyRequests {
		t.Fatalf("explain with every slot taken: %d %s", code, body)
	}
	if r, page := getPage(t, hs.URL+"/"); r.StatusCode != 200 || !strings.Contains(page, "app.js") {
		t.Errorf("GET / with every slot taken: %d", r.StatusCode)
	}
	<-s.slots
	s.Drain()
	if r, _ := getPage(t, hs.URL+"/static/app.js"); r.StatusCode != 200 {
		t.Errorf("GET /static/app.js while draining: %d", r.StatusCode)
	}
	if code, body := post(t, hs.URL+"/v1/explain", `{"input": "abc", "query_token": 0}`); code != http.StatusServiceUnavailable || apiError(t, body).Code != CodeShuttingDown {
		t.Errorf("explain while draining: %d %s", code, body)
	}
}
