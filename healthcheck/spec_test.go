package healthcheck

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// The effective checks of the director's test configuration (director/spec_test.go):
// an http check of a virtual server, a real server's tcp and exec checks that inherit
// its timing, and an https check of another virtual server.
var (
	httpCheck = CheckSpec{Type: "http", Method: "HEAD", Path: "/healthz", Host: "www.example.com", ExpectStatus: []int{200},
		TLSVerify: true, Interval: time.Second, Timeout: 500 * time.Millisecond, Rise: 2, Fall: 4}
	tcpCheck = CheckSpec{Type: "tcp", ConnectPort: 8080, BindTo: netip.MustParseAddr("192.0.2.1"),
		Interval: time.Second, Timeout: 500 * time.Millisecond, Rise: 2, Fall: 4}
	execCheck = CheckSpec{Type: "exec",
		Command:  `/bin/sh -c 'test "$HADIRECTOR_BACKEND_ADDR:$HADIRECTOR_BACKEND_PORT" = 198.51.100.13:8080'`,
		Interval: time.Second, Timeout: 500 * time.Millisecond, Rise: 2, Fall: 4}
	httpsCheck = CheckSpec{Type: "https", Method: "GET", ExpectStatus: []int{200, 204}, ExpectBody: "^ok", SNI: "backend.test",
		Interval: 2 * time.Second, Timeout: 3 * time.Second, Rise: 1, Fall: 3}
)

func TestTargetFromSpec(t *testing.T) {
	rs11 := netip.MustParseAddrPort("198.51.100.11:80")
	tg, err := TargetFromSpec(ID{Service: "192.0.2.100:80/tcp", Backend: rs11}, &httpCheck)
	if err != nil {
		t.Fatal(err)
	}
	if tg.StartDown || tg.Spec == "" {
		t.Errorf("%v: StartDown %v Spec %q", tg.ID, tg.StartDown, tg.Spec)
	}
	h, ok := tg.Checker.(*HTTP)
	if !ok {
		t.Fatalf("http target's checker is %T", tg.Checker)
	}
	if tg.ID != (ID{"192.0.2.100:80/tcp", rs11}) || tg.Interval != time.Second || tg.Timeout != 500*time.Millisecond || tg.Rise != 2 || tg.Fall != 4 {
		t.Errorf("target %+v", tg)
	}
	if h.TLS || h.Method != "HEAD" || h.Path != "/healthz" || h.Host != "www.example.com" || h.Addr != rs11 ||
		!slices.Equal(h.ExpectStatus, []int{200}) || h.Timeout != 500*time.Millisecond {
		t.Errorf("http check %+v", h)
	}

	tg, err = TargetFromSpec(ID{Service: "192.0.2.100:80/tcp", Backend: netip.MustParseAddrPort("198.51.100.12:80")}, &tcpCheck)
	if err != nil {
		t.Fatal(err)
	}
	tc, ok := tg.Checker.(*TCP)
	if !ok || tc.Addr != netip.MustParseAddrPort("198.51.100.12:8080") || tc.BindTo != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("tcp check %+v", tg.Checker)
	}

	tg, err = TargetFromSpec(ID{Service: "192.0.2.100:80/tcp", Backend: netip.MustParseAddrPort("198.51.100.13:8080")}, &execCheck)
	if err != nil {
		t.Fatal(err)
	}
	ex, ok := tg.Checker.(*Exec)
	if !ok || ex.Argv[0] != "/bin/sh" || len(ex.Argv) != 3 {
		t.Fatalf("exec check %+v", tg.Checker)
	}
	if err := ex.Check(context.Background()); err != nil {
		t.Errorf("exec check did not see its backend in the environment: %v", err)
	}

	tg, err = TargetFromSpec(ID{Service: "192.0.2.100:443/tcp", Backend: netip.MustParseAddrPort("198.51.100.11:443")}, &httpsCheck)
	if err != nil {
		t.Fatal(err)
	}
	hs, ok := tg.Checker.(*HTTP)
	if !ok || !hs.TLS || !hs.InsecureSkipVerify || hs.SNI != "backend.test" || hs.ExpectBody == nil || hs.ExpectBody.String() != "^ok" ||
		!slices.Equal(hs.ExpectStatus, []int{200, 204}) {
		t.Errorf("https check %+v", tg.Checker)
	}
}

// TestTargetFromSpecSpec: the same check gives the same Spec, so Set keeps state; a
// changed key changes it.
func TestTargetFromSpecSpec(t *testing.T) {
	id := ID{Service: "192.0.2.100:80/tcp", Backend: netip.MustParseAddrPort("198.51.100.11:80")}
	again := httpCheck
	again.ExpectStatus = slices.Clone(httpCheck.ExpectStatus)
	changed := httpCheck
	changed.Path = "/ready"
	a, err := TargetFromSpec(id, &httpCheck)
	if err != nil {
		t.Fatal(err)
	}
	b, err := TargetFromSpec(id, &again)
	if err != nil {
		t.Fatal(err)
	}
	c, err := TargetFromSpec(id, &changed)
	if err != nil {
		t.Fatal(err)
	}
	if !sameCheck(normalize(a), normalize(b)) {
		t.Error("the same check gives a different Spec")
	}
	if sameCheck(normalize(a), normalize(c)) {
		t.Error("a changed path kept the Spec")
	}
}

func TestFromSpecErrors(t *testing.T) {
	rs := netip.MustParseAddrPort("198.51.100.11:80")
	for _, tc := range []struct {
		name string
		c    *CheckSpec
		want string
	}{
		{"nil", nil, "has no check"},
		{"unknown type", &CheckSpec{Type: "smtp"}, `unknown check type "smtp"`},
		{"HEAD with body", &CheckSpec{Type: "http", Method: "HEAD", ExpectBody: "ok"}, "expect_body needs method GET"},
		{"bad regexp", &CheckSpec{Type: "http", Method: "GET", ExpectBody: "("}, "expect_body"},
		{"empty command", &CheckSpec{Type: "exec"}, "without a command"},
		{"bad quoting", &CheckSpec{Type: "exec", Command: "/bin/true 'x"}, "command"},
	} {
		_, err := FromSpec(tc.c, rs)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}
