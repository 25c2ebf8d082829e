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
	if tg.ID != (ID{Service: "192.0.2.100:80/tcp", Backend: rs11}) || tg.Interval != time.Second || tg.Timeout != 500*time.Millisecond || tg.Rise != 2 || tg.Fall != 4 {
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
		{"unknown type", &CheckSpec{Type: "icmp"}, `unknown check type "icmp"`},
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

// The checks beyond tcp, http and exec map to their checkers with every key.
func TestFromSpecKinds(t *testing.T) {
	rs := netip.MustParseAddrPort("198.51.100.11:53")
	udp, err := FromSpec(&CheckSpec{Type: "udp", Payload: "68 69", RequireReply: true, Reply: "6x", MinReplyLength: 1, MaxReplyLength: 9, Timeout: time.Second}, rs)
	if u, ok := udp.(*UDP); err != nil || !ok || string(u.Payload) != "hi" || !u.RequireReply || !slices.Equal(u.Reply, []byte{0x60}) ||
		!slices.Equal(u.ReplyMask, []byte{0x0f}) || u.MinReply != 1 || u.MaxReply != 9 || u.Addr != rs {
		t.Errorf("udp: %+v, %v", udp, err)
	}
	udp, err = FromSpec(&CheckSpec{Type: "udp", PayloadText: "ping\n"}, rs)
	if u, ok := udp.(*UDP); err != nil || !ok || string(u.Payload) != "ping\n" {
		t.Errorf("udp text: %+v, %v", udp, err)
	}
	if _, err := FromSpec(&CheckSpec{Type: "udp", Payload: "zz"}, rs); err == nil {
		t.Error("udp with a bad payload: no error")
	}
	d, err := FromSpec(&CheckSpec{Type: "dns", DNSType: "aaaa", DNSName: "www.example.org", ExpectAddress: netip.MustParseAddr("2001:db8::1")}, rs)
	if dc, ok := d.(*DNS); err != nil || !ok || dc.Type != 28 || dc.Name != "www.example.org" || dc.ExpectAddr != netip.MustParseAddr("2001:db8::1") {
		t.Errorf("dns: %+v, %v", d, err)
	}
	if d, err := FromSpec(&CheckSpec{Type: "dns"}, rs); err != nil || d.(*DNS).Type != 0 {
		t.Errorf("dns default type: %+v, %v", d, err)
	}
	p, err := FromSpec(&CheckSpec{Type: "ping", Timeout: time.Second}, rs)
	if pc, ok := p.(*ICMP); err != nil || !ok || pc.Addr != rs.Addr() || pc.Timeout != time.Second {
		t.Errorf("ping: %+v, %v", p, err)
	}
	sm, err := FromSpec(&CheckSpec{Type: "smtp", HeloName: "me.example", StartTLS: true, TLSVerify: true, SNI: "mx.example", ConnectPort: 25}, rs)
	if sc, ok := sm.(*SMTP); err != nil || !ok || sc.HeloName != "me.example" || !sc.StartTLS || sc.TLS || sc.InsecureSkipVerify ||
		sc.SNI != "mx.example" || sc.Addr.Port() != 25 {
		t.Errorf("smtp: %+v, %v", sm, err)
	}
	f, err := FromSpec(&CheckSpec{Type: "file", File: "/run/w", Weight: -2, Reverse: true}, rs)
	if fc, ok := f.(*File); err != nil || !ok || fc.Path != "/run/w" || fc.Weight != -2 || !fc.Reverse {
		t.Errorf("file: %+v, %v", f, err)
	}
	ex, err := FromSpec(&CheckSpec{Type: "exec", Command: "/bin/true", MiscDynamic: true}, rs)
	if e, ok := ex.(*Exec); err != nil || !ok || !e.Dynamic {
		t.Errorf("exec: %+v, %v", ex, err)
	}
	h, err := FromSpec(&CheckSpec{Type: "http", Method: "GET", URLs: []URLSpec{{Path: "/a", ExpectStatus: []int{200, 301}, Digest: "d41d8cd98f00b204e9800998ecf8427e"},
		{Path: "/b", Regex: "^ok", RegexNoMatch: true, Virtualhost: "b.example"}}}, rs)
	hc, ok := h.(*HTTP)
	if err != nil || !ok || len(hc.URLs) != 2 || hc.URLs[0].Path != "/a" || !slices.Equal(hc.URLs[0].ExpectStatus, []int{200, 301}) ||
		hc.URLs[0].Digest == "" || hc.URLs[1].Regex == nil || hc.URLs[1].Regex.String() != "^ok" || !hc.URLs[1].RegexNoMatch || hc.URLs[1].Host != "b.example" {
		t.Errorf("http urls: %+v, %v", h, err)
	}
	tg, err := TargetFromSpec(ID{Service: "s", Backend: rs, Check: 2}, &CheckSpec{Type: "tcp", Interval: time.Second, DelayBeforeRetry: 200 * time.Millisecond, Warmup: 300 * time.Millisecond})
	if err != nil || tg.RetryInterval != 200*time.Millisecond || tg.Warmup != 300*time.Millisecond || tg.ID.Check != 2 {
		t.Errorf("target %+v, %v", tg, err)
	}
}
