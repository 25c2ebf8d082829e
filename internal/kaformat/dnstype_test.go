package kaformat

import (
	"testing"

	"github.com/miekg/dns"
)

func TestDNSType(t *testing.T) {
	for in, want := range map[string]uint16{"A": dns.TypeA, "aaaa": dns.TypeAAAA, "Mx": dns.TypeMX, "SOA": dns.TypeSOA, "TXT": dns.TypeTXT, "NS": dns.TypeNS} {
		if got, err := DNSType(in); err != nil || got != want {
			t.Errorf("DNSType(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := DNSType("NOPE"); err == nil {
		t.Error("DNSType(NOPE) passed")
	}
}
