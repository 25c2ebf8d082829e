package lvs

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestRulesRoundTrip(t *testing.T) {
	for seed := range 500 {
		r := rand.New(rand.NewPCG(uint64(seed), 7))
		tab := randTable(r, genOptions{maxServices: 10, maxDests: 5})
		to := Timeouts{TCP: time.Duration(r.IntN(1000)) * time.Second, UDP: time.Duration(r.IntN(1000)) * time.Second}
		var b bytes.Buffer
		if err := WriteRules(&b, tab, to); err != nil {
			t.Fatal(err)
		}
		got, gotTO, err := ParseRules(&b)
		if err != nil {
			t.Fatalf("seed %d: %v\n%s", seed, err, b.String())
		}
		if !got.Equal(tab) || gotTO != to {
			t.Fatalf("seed %d: round trip differs\n%s", seed, b.String())
		}
	}
}

func TestParseRulesForms(t *testing.T) {
	in := `
# the seed's script
/sbin/ipvsadm -C
ipvsadm --set 30 5 60
ipvsadm --add-service --tcp-service 192.0.2.100:80 --scheduler rr --persistent
-a -t 192.0.2.100:80 -r 198.51.100.11 -w 1   # port from the service
-a -t 192.0.2.100:80 --real-server 198.51.100.12:8080 --masquerading -w 0 -x 10 -y 5
-A -u [2001:db8::1]:53 -s sh -b sh-fallback,sh-port -o
-a -u [2001:db8::1]:53 -r [2001:db8:1::5] -i
-A -f 7 -6 -p 60 -M 64
-A --sctp-service 192.0.2.100:3868 -p -M 255.255.0.0
`
	tab, to, err := ParseRules(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if to != (Timeouts{TCP: 30 * time.Second, TCPFin: 5 * time.Second, UDP: 60 * time.Second}) {
		t.Errorf("timeouts %v", to)
	}
	var b strings.Builder
	_ = WriteRules(&b, tab, Timeouts{})
	want := `-A -t 192.0.2.100:80 -s rr -p 300
-a -t 192.0.2.100:80 -r 198.51.100.11:80 -g -w 1
-a -t 192.0.2.100:80 -r 198.51.100.12:8080 -m -w 0 -x 10 -y 5
-A --sctp-service 192.0.2.100:3868 -s wlc -p 300 -M 255.255.0.0
-A -u [2001:db8::1]:53 -s sh -o -b sh-fallback,sh-port
-a -u [2001:db8::1]:53 -r [2001:db8:1::5]:53 -i -w 1 --tun-type ipip
-A -f 7 -6 -s wlc -p 60 -M 64
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestParseRulesErrors(t *testing.T) {
	for _, in := range []string{
		"-A -t 192.0.2.1:80 -r 198.51.100.1",
		"-a -t 192.0.2.1:80 -r 198.51.100.1",
		"-A -t 192.0.2.1:80\n-A -t 192.0.2.1:80",
		"-A -t 192.0.2.1:80\n-a -t 192.0.2.1:80",
		"-A -t 192.0.2.1:80\n-a -t 192.0.2.1:80 -r 198.51.100.1 -g -m",
		"-A -t 192.0.2.1:80\n-a -t 192.0.2.1:80 -r 198.51.100.1 -w 70000",
		"-A -t example.com:80",
		"-A -t 192.0.2.1:80 -M 255.0.255.0 -p",
		"-A -f 0",
		"-A -t 192.0.2.1:80 -b sh-sideways",
		"-A -t 192.0.2.1:80 --frobnicate",
		"-A -a -t 192.0.2.1:80",
		"--set 1 2",
		"-A -t 192.0.2.1:80\n-a -t 192.0.2.1:80 -r 198.51.100.1 -i --tun-type gue",
		"-A -t 192.0.2.1:80\n-a -t 192.0.2.1:80 -r 198.51.100.1 -m --tun-type ipip",
		"-A -t 192.0.2.1:80 --tun-type ipip",
		"-t 192.0.2.1:80",
	} {
		if _, _, err := ParseRules(strings.NewReader(in)); err == nil {
			t.Errorf("%q: no error", in)
		} else if !strings.Contains(err.Error(), "line ") {
			t.Errorf("%q: error without line: %v", in, err)
		}
	}
}

// FuzzParseRules: the parser never panics, and what it accepts writes back to
// rules that parse to the same table.
func FuzzParseRules(f *testing.F) {
	f.Add(seedRules)
	f.Add("-A -u [2001:db8::1]:53 -s sh -b sh-fallback,sh-port -o\n-a -u [2001:db8::1]:53 -r [2001:db8:1::5] -i -x 3 -y 1")
	f.Add("-A -f 7 -6 -p 60 -M 64\n-A --sctp-service 192.0.2.100:3868 -p -M 255.255.0.0")
	var b bytes.Buffer
	_ = WriteRules(&b, randTable(rand.New(rand.NewPCG(1, 1)), genOptions{maxServices: 5, maxDests: 3}), Timeouts{TCP: time.Second})
	f.Add(b.String())
	f.Fuzz(func(t *testing.T, in string) {
		tab, to, err := ParseRules(strings.NewReader(in))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := WriteRules(&out, tab, to); err != nil {
			t.Fatal(err)
		}
		again, againTO, err := ParseRules(&out)
		if err != nil {
			t.Fatalf("rewritten rules do not parse: %v\n%s", err, out.String())
		}
		if !again.Equal(tab) || againTO != to {
			t.Fatalf("round trip differs\n%s", out.String())
		}
	})
}
