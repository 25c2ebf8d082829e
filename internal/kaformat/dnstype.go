package kaformat

import (
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// DNSType returns the query type called name, as DNS_CHECK's type keyword names it (A, AAAA, NS, MX, SOA, TXT, CNAME, ...;
// any case).
func DNSType(name string) (uint16, error) {
	t, ok := dns.StringToType[strings.ToUpper(name)]
	if !ok {
		return 0, fmt.Errorf("unknown DNS type %q", name)
	}
	return t, nil
}
