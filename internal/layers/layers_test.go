// Package layers holds the test of the module's package arrows: config → director →
// {vrrp, vip, lvs, healthcheck, notify, bgp}, never sideways.
package layers

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/hadirector/hadirector/"

// TestArrows: the domain packages never see the TOML schema (each takes its own spec
// types, mapped in director/spec.go), and the schema never reaches into a domain package
// (what they share lives in internal/, e.g. internal/kaformat).
func TestArrows(t *testing.T) {
	domain := []string{"vrrp", "vip", "lvs", "healthcheck", "notify", "bgp", "realserver"}
	for _, p := range domain {
		if slices.Contains(deps(t, p), mod+"config") {
			t.Errorf("%s imports config (directly or not)", p)
		}
	}
	for _, d := range deps(t, "config") {
		for _, p := range append(domain, "director") {
			if d == mod+p || strings.HasPrefix(d, mod+p+"/") {
				t.Errorf("config imports %s", d)
			}
		}
	}
}

// deps lists the packages pkg imports, directly or not, with the tests' imports left out.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", mod+pkg).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	var p struct{ Deps []string }
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	return p.Deps
}
