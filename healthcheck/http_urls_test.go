package healthcheck

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// genhash returns the MD5 digest keepalived's genhash prints for url on s.
func genhash(t *testing.T, s *httpServer, url string) string {
	t.Helper()
	bin, err := exec.LookPath("genhash")
	if err != nil {
		t.Fatalf("genhash (package keepalived; bash scripts/deps.sh installs it): %v", err)
	}
	a := s.addr(t)
	out, err := exec.Command(bin, "-s", a.Addr().String(), "-p", fmt.Sprint(a.Port()), "-u", url).CombinedOutput()
	if err != nil {
		t.Fatalf("genhash: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`(?m)^([0-9a-f]{32})\s*$`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("genhash printed no digest:\n%s", out)
	}
	return string(m[1])
}

// TestHTTPURLs: a check with several url blocks requests each on its own connection, with
// its own path, status codes, digest (as genhash computes it, over a body larger than
// MaxBody), regex or regex_no_match, and virtualhost; it passes only when all pass.
func TestHTTPURLs(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 6<<10) // 96 KiB
	s := newHTTPServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/a":
			io.WriteString(w, "alpha body")
		case "/big":
			io.WriteString(w, big)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "down")
		}
	}, nil)
	digest := genhash(t, s, "/big")
	ctx := context.Background()
	check := func(urls ...URL) error {
		return (&HTTP{Addr: s.addr(t), Host: "default.test", URLs: urls, Timeout: 5 * time.Second}).Check(ctx)
	}

	conns, reqs := s.conns.Load(), s.requests()
	if err := check(URL{Path: "/a", Regex: regexp.MustCompile("^alpha"), Host: "www.test"}, URL{Path: "/big", Digest: strings.ToUpper(digest)}, URL{Path: "/down", ExpectStatus: []int{503}}); err != nil {
		t.Fatal(err)
	}
	if got := s.conns.Load() - conns; got != 3 {
		t.Errorf("%d connections for 3 URLs", got)
	}
	s.mu.Lock()
	hosts, paths := s.hosts[reqs:], s.paths[reqs:]
	s.mu.Unlock()
	if fmt.Sprint(paths) != "[/a /big /down]" || fmt.Sprint(hosts) != "[www.test default.test default.test]" {
		t.Errorf("requests %v with hosts %v", paths, hosts)
	}

	wantReason(t, check(URL{Path: "/big", Digest: "00000000000000000000000000000000"}), ReasonBody, "MD5 digest "+digest+", want 00000000000000000000000000000000 (url /big)")
	wantReason(t, check(URL{Path: "/a"}, URL{Path: "/down"}), ReasonStatus, "status 503 Service Unavailable, want 200 (url /down)")
	wantReason(t, check(URL{Path: "/a", Regex: regexp.MustCompile("alpha"), RegexNoMatch: true}), ReasonBody, `"alpha" matches the body (regex_no_match) (url /a)`)
	if err := check(URL{Path: "/a", Regex: regexp.MustCompile("omega"), RegexNoMatch: true}); err != nil {
		t.Errorf("regex_no_match without a match: %v", err)
	}
	wantReason(t, check(URL{Path: "/a", Regex: regexp.MustCompile("omega")}), ReasonBody, `no match for "omega"`)
	// A failing URL stops the check: the ones after it are not requested.
	n := s.requests()
	wantReason(t, check(URL{Path: "/down"}, URL{Path: "/a"}), ReasonStatus, "(url /down)")
	if got := s.requests() - n; got != 1 {
		t.Errorf("%d requests after the first URL failed, want 1", got)
	}
}
