// Package monitoring tests the Prometheus rules and the Grafana dashboard of examples/: promtool
// checks and unit-tests the rules, and every PromQL expression of both parses and names only
// metrics the daemon exports. The exported names are checked against a running daemon by
// e2e/vm (TestMetricsExported, in the IPVS VM: a pair with virtual servers, checks and
// connection sync), which reads the list of names these expressions use from
// e2e/vm/testdata/metrics-used.txt; TestMetricNames keeps that list equal to what the
// expressions name.
package monitoring

import (
	"encoding/json"
	"flag"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/hadirector/hadirector/internal/privtest"
)

var update = flag.Bool("update", false, "rewrite e2e/vm/testdata/metrics-used.txt")

const (
	rulesFile = "../../examples/prometheus/hadirector-rules.yml"
	testsFile = "../../examples/prometheus/hadirector-rules.test.yml"
	dashFile  = "../../examples/grafana/hadirector.json"
	usedFile  = "../../e2e/vm/testdata/metrics-used.txt"
)

// TestPromtool: promtool check rules, and promtool test rules (every alert firing on the
// series that should fire it, silent on a healthy pair).
func TestPromtool(t *testing.T) {
	promtool := privtest.Tool(t, "promtool")
	for _, args := range [][]string{{"check", "rules", rulesFile}, {"test", "rules", testsFile}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
	}
}

func rules(t *testing.T) *rulefmt.RuleGroups {
	t.Helper()
	groups, errs := rulefmt.ParseFile(rulesFile, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		t.Fatalf("%s: %v", rulesFile, errs)
	}
	return groups
}

// TestEveryAlertTested: each alert has a test case where it fires and one where it does not.
func TestEveryAlertTested(t *testing.T) {
	b, err := os.ReadFile(testsFile)
	if err != nil {
		t.Fatal(err)
	}
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string           `yaml:"alertname"`
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(b, &tests); err != nil {
		t.Fatal(err)
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				silent[a.Alertname] = true
			}
		}
	}
	n := 0
	for _, g := range rules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			if !fires[r.Alert] || !silent[r.Alert] {
				t.Errorf("alert %s: a test where it fires: %v, where it does not: %v", r.Alert, fires[r.Alert], silent[r.Alert])
			}
		}
	}
	if n < 12 {
		t.Errorf("%d alerts in %s, want the 12 of the issue", n, rulesFile)
	}
}

// expressions is every PromQL expression of the rules and the dashboard (panel targets and
// query variables), with Grafana's variables replaced by values PromQL accepts.
func expressions(t *testing.T) map[string]string {
	t.Helper()
	exprs := map[string]string{}
	for _, g := range rules(t).Groups {
		for _, r := range g.Rules {
			exprs["rule "+r.Alert+r.Record] = r.Expr
		}
	}
	b, err := os.ReadFile(dashFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashFile, err)
	}
	grafana := strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h", "$job", "hadirector")
	for _, p := range dash.Panels {
		for i, tg := range p.Targets {
			exprs["panel "+p.Title+" "+string(rune('A'+i))] = grafana.Replace(tg.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(map[string]any)
		s, _ := q["query"].(string)
		// label_values(SELECTOR, LABEL): the selector is PromQL.
		sel, ok := strings.CutPrefix(s, "label_values(")
		if i := strings.LastIndex(sel, ","); ok && i > 0 {
			exprs["variable "+v.Name] = sel[:i]
		} else {
			t.Errorf("variable %s: query %q is not label_values(SELECTOR, LABEL)", v.Name, s)
		}
	}
	return exprs
}

// used is the set of metric names the expressions select, without Prometheus' own "up".
func used(t *testing.T) []string {
	t.Helper()
	p := parser.NewParser(parser.Options{})
	names := map[string]bool{}
	for where, e := range expressions(t) {
		expr, err := p.ParseExpr(e)
		if err != nil {
			t.Errorf("%s: %q: %v", where, e, err)
			continue
		}
		n := 0
		parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
			if vs, ok := node.(*parser.VectorSelector); ok {
				if vs.Name == "" {
					t.Errorf("%s: a selector without a metric name: %s", where, vs)
				}
				names[vs.Name] = true
				n++
			}
			return nil
		})
		if n == 0 {
			t.Errorf("%s: %q selects no metric", where, e)
		}
	}
	delete(names, "up")
	var out []string
	for n := range names {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// TestMetricNames: every expression parses; the names they use are all hadirector's and are
// the list e2e/vm checks against a running daemon.
func TestMetricNames(t *testing.T) {
	got := used(t)
	for _, n := range got {
		if !strings.HasPrefix(n, "hadirector_") {
			t.Errorf("metric %s is not one of hadirector's", n)
		}
	}
	text := "# Metric names used by examples/prometheus and examples/grafana; e2e/vm TestMetricsExported\n" +
		"# checks that a running daemon exports each. Generated: go test ./tools/monitoring -update\n" +
		strings.Join(got, "\n") + "\n"
	if *update {
		if err := os.WriteFile(usedFile, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(usedFile)
	if err != nil || string(want) != text {
		t.Errorf("%s is not the names the rules and the dashboard use (%v): cd tools && go test ./monitoring -update\nthey use: %q", usedFile, err, got)
	}
	if len(got) < 30 {
		t.Errorf("only %d metrics used: %q", len(got), got)
	}
}
