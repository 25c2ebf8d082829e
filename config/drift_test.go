package config

import (
	"os"
	"strings"
	"testing"
)

func TestDriftExamplesAgree(t *testing.T) {
	a, err := Load("../examples/node-a.toml")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load("../examples/node-b.toml")
	if err != nil {
		t.Fatal(err)
	}
	if d := Drift(a, b); len(d) != 0 {
		t.Errorf("the example pair drifts:\n%s", strings.Join(d, "\n"))
	}
}

func TestDriftFindsEveryDifference(t *testing.T) {
	base, err := os.ReadFile("../examples/node-a.toml")
	if err != nil {
		t.Fatal(err)
	}
	a, err := Parse("a.toml", base)
	if err != nil {
		t.Fatal(err)
	}
	edit := strings.NewReplacer(
		`advert_int = "1s"`, `advert_int = "2s"`,
		`["192.0.2.100/24"]`, `["192.0.2.100/24", "192.0.2.101/24"]`,
		`scheduler = "rr"`, `scheduler = "wrr"`,
		`address = "198.51.100.12:80"`+"\n  weight = 1", `address = "198.51.100.12:80"`+"\n  weight = 3",
	).Replace(string(base))
	b, err := Parse("b.toml", []byte(edit))
	if err != nil {
		t.Fatal(err)
	}
	d := strings.Join(Drift(a, b), "\n")
	for _, want := range []string{"advert_int 1s vs 2s", "virtual_ipaddress", "scheduler rr vs wrr", "real_server 198.51.100.12:80: weight", "both nodes have priority 150"} {
		if !strings.Contains(d, want) {
			t.Errorf("drift report lacks %q:\n%s", want, d)
		}
	}
}
