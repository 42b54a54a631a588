package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/nhs-steward/steward/internal/fuzzcheck"
)

// FuzzParse gives Parse arbitrary config text, as a practice manager
// might write it. Seeds: testdata/fuzz/FuzzParse (the template, the
// packaged configs, broken ones).
//
// Properties:
//   - an error is a Problems naming the file, with every problem at a line
//     and column inside the text (or just past its end), in order, one a
//     line, a YAML syntax error too;
//   - an accepted config holds what the agent relies on: timeouts and the
//     heartbeat are positive, the schedule is a real day and time;
//   - an accepted config, written out again as YAML with every key, parses
//     to the same config.
func FuzzParse(f *testing.F) {
	f.Add([]byte(Template("Y01234", "/var/lib/steward")))
	f.Fuzz(func(t *testing.T, src []byte) {
		const name = "agent.yaml"
		c, err := Parse(name, src)
		if err != nil {
			if c != nil {
				t.Fatalf("Parse returned a config and the error %v", err)
			}
			checkProblems(t, name, src, err)
			return
		}
		if c.Database.Timeout.Duration <= 0 || c.Collector.Timeout.Duration <= 0 || c.Heartbeat.Duration <= 0 {
			t.Fatalf("accepted a timeout or heartbeat that is not positive: database %v, collector %v, heartbeat %v",
				c.Database.Timeout, c.Collector.Timeout, c.Heartbeat)
		}
		if c.Schedule.DayOfMonth < 1 || c.Schedule.DayOfMonth > 28 || c.Practice == "" || c.DataDir == "" {
			t.Fatalf("accepted config %+v", c)
		}
		out, err := yaml.Marshal(encode(c))
		if err != nil {
			t.Fatalf("encode accepted config: %v", err)
		}
		c2, err := Parse(name, out)
		if err != nil {
			t.Fatalf("the accepted config, written out again, is refused: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("the config written out again reads differently:\n%+v\n%+v\n%s", c, c2, out)
		}
	})
}

// checkProblems checks that a refusal says where each problem is.
func checkProblems(t *testing.T, name string, src []byte, err error) {
	t.Helper()
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error %T %v is not Problems", err, err)
	}
	if len(ps) == 0 {
		t.Fatalf("Problems for %q with no problems", name)
	}
	for i, p := range ps {
		if p.File != name {
			t.Fatalf("problem %+v does not name the file %q", p, name)
		}
		if !fuzzcheck.InYAML(src, p.Line, p.Col) || p.Msg == "" {
			t.Fatalf("problem %+v is not at a place in the %d lines", p, fuzzcheck.YAMLLines(src))
		}
		if i > 0 {
			q := ps[i-1]
			if q.Line > p.Line || q.Line == p.Line && q.Col > p.Col {
				t.Fatalf("problems out of order: %+v before %+v", q, p)
			}
		}
	}
	if got := strings.Count(err.Error(), "\n") + 1; got != len(ps) {
		t.Fatalf("%d problems printed on %d lines:\n%v", len(ps), got, err)
	}
}

// encode writes every setting of c as a config file would hold it.
func encode(c *Config) map[string]any {
	opt := func(m map[string]any, key, v string) {
		if v != "" {
			m[key] = v
		}
	}
	db := map[string]any{"profile": c.Database.Profile, "timeout": c.Database.Timeout.String()}
	opt(db, "url", c.Database.URL)
	opt(db, "url_file", c.Database.URLFile)
	opt(db, "url_env", c.Database.URLEnv)
	col := map[string]any{"url": c.Collector.URL, "timeout": c.Collector.Timeout.String()}
	opt(col, "ca_file", c.Collector.CAFile)
	sched := map[string]any{"day_of_month": c.Schedule.DayOfMonth, "time": c.Schedule.Time,
		"catch_up_months": c.Schedule.CatchUpMonths}
	opt(sched, "first_as_of", c.Schedule.FirstAsOf)
	bundle := map[string]any{"pack": c.Bundle.Pack, "approval": c.Bundle.Approval}
	opt(bundle, "trusted_root", c.Bundle.TrustedRoot)
	m := map[string]any{"version": c.Version, "practice": c.Practice, "database": db, "collector": col,
		"schedule": sched, "data_dir": c.DataDir, "bundle": bundle, "heartbeat": c.Heartbeat.String(),
		"log_level": c.LogLevel}
	opt(m, "baseline", c.Baseline)
	return m
}
