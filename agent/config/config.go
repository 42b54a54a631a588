// Package config reads the agent's configuration: a versioned, strict YAML
// file that a practice manager fills in once. Unknown keys, wrong types and
// missing values are reported together, each with its line and column and
// what to do. Secrets (the database URL with its password) may come from a
// file or an environment variable instead of the config, and never reach
// logs.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/nhs-steward/steward/internal/yamlstrict"
	"github.com/nhs-steward/steward/searches/profile"
)

// Version is the config file version this agent reads.
const Version = 1

// Config is the agent's configuration.
type Config struct {
	Version   int
	Practice  string
	Database  Database
	Collector Collector
	Schedule  Schedule
	DataDir   string
	Bundle    Bundle
	// Baseline is the scheme's baseline month end (YYYY-MM-DD).
	Baseline string
	// Heartbeat is how often the agent tells the collector it is alive.
	Heartbeat Duration
	LogLevel  string
	// Quality bounds the data-quality gate a month passes before it is
	// queued.
	Quality Quality

	path string
}

// Database says where the practice reporting database is.
type Database struct {
	URL     string
	URLFile string
	URLEnv  string
	// Profile is a built-in profile name, or the path of a profile file
	// (made absolute against the config's directory).
	Profile string
	// ProfileParameters are the values of the profile's parameters, as
	// written (the profile gives their types).
	ProfileParameters map[string]string
	Timeout           Duration
}

// Collector says where the ICB's collector is.
type Collector struct {
	URL     string
	CAFile  string
	Timeout Duration
}

// Quality is the data-quality gate: a month that fails it is held, not
// queued, until the data are fixed or the practice manager releases it.
// Percentages are whole numbers; 0 turns a check off.
type Quality struct {
	// MinRegisteredAdults holds a month with fewer registered adults (an
	// empty or half-refreshed registrations table).
	MinRegisteredAdults int
	// MaxAdultsChangePercent holds a month whose registered adults rose or
	// fell by more than this against the previous month.
	MaxAdultsChangePercent int
	// MaxOpioidChangePercent and MinOpioidChange hold a month whose
	// long-term opioid users changed by more than this percentage and by
	// at least this many patients against the previous month.
	MaxOpioidChangePercent int
	MinOpioidChange        int
	// MaxUnreadablePercent holds a month in which more than this share of
	// the medication issues have an unreadable date or quantity.
	MaxUnreadablePercent int
	// MaxExtractAgeDays holds a month whose newest medication issue is more
	// than this many days before the month's end.
	MaxExtractAgeDays int
	// ClockTolerance is how far the practice server's clock may be from
	// the collector's before months are held.
	ClockTolerance Duration
}

// DefaultQuality is the gate a config without a quality section gets.
func DefaultQuality() Quality {
	return Quality{MinRegisteredAdults: 1, MaxAdultsChangePercent: 10, MaxOpioidChangePercent: 50, MinOpioidChange: 10,
		MaxUnreadablePercent: 5, MaxExtractAgeDays: 7, ClockTolerance: Duration{time.Hour}}
}

// Schedule says when months are due.
type Schedule struct {
	// DayOfMonth is the day each month on which the month just ended is
	// run (1-28).
	DayOfMonth int
	// Time is the local time of day of the run, HH:MM.
	Time string
	// CatchUpMonths is how many missed months back the agent still
	// delivers.
	CatchUpMonths int
	// FirstAsOf is the earliest month end ever delivered.
	FirstAsOf string
}

// Bundle says which searches run and whom to trust for them.
type Bundle struct {
	// Pack is the pack to run when no bundle has been installed yet: a
	// built-in pack name.
	Pack string
	// TrustedRoot is the pinned TUF root metadata file from the ICB.
	TrustedRoot string
	// Approval is "automatic" or "manual" (a new version waits for
	// `steward-agent approve`).
	Approval string
}

// Duration is a time.Duration written as "30s", "6h" or "2d".
type Duration struct {
	time.Duration
}

// Problem and Problems are the YAML loaders' shared diagnostics
// (internal/yamlstrict): every problem of a config file in one pass, each
// as file:line:col: problem (fix).
type (
	Problem  = yamlstrict.Problem
	Problems = yamlstrict.Problems
)

// Load reads and validates a config file.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no config at %s: write one with `steward-agent init --config %s`", path, path)
		}
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, b)
}

var odsPattern = regexp.MustCompile(`^[A-Z][0-9A-Z]{2,9}$`)

// Parse reads and validates config text; path names it in messages and
// anchors relative paths.
func Parse(path string, src []byte) (*Config, error) {
	var probs Problems
	add := func(n *yaml.Node, msg, fix string) {
		probs = append(probs, Problem{Pos: yamlstrict.At(path, n), Msg: msg, Fix: fix})
	}
	root, err := yamlstrict.Parse(src)
	var second *yamlstrict.SecondDocumentError
	if err != nil {
		probs = append(probs, yamlstrict.ParseProblem(path, err, yamlstrict.Fixes{
			Empty:  "run `steward-agent init` for a commented template",
			Second: "a config holds one document: remove the second '---'",
		}))
		if !errors.As(err, &second) {
			return nil, probs.Err()
		}
	}
	if root.Kind != yaml.MappingNode {
		add(root, "the config must be a mapping of keys to values", "see `steward-agent init`")
		return nil, probs.Err()
	}
	c := &Config{path: path}
	if v := yamlstrict.Lookup(root, "version"); v == nil {
		add(root, "version is missing", "add `version: 1` as the first line")
	} else if v.Value != fmt.Sprint(Version) {
		add(v, fmt.Sprintf("version %s is not supported by this agent", oneLine(v.Value)), "this agent reads version 1")
	} else {
		c.Version = Version
	}
	c.Quality = DefaultQuality()
	c.decode(root, add)
	c.applyDefaults()
	c.validate(root, add)
	if err := probs.Err(); err != nil {
		return nil, err
	}
	return c, nil
}

// oneLine returns s as it is when it prints as one plain line, else quoted,
// so that each problem stays on a line of its own.
func oneLine(s string) string {
	if q := strconv.Quote(s); q[1:len(q)-1] != s {
		return q
	}
	return s
}

// decode reads the values of root into c, reporting unknown and repeated
// keys and values of the wrong type.
func (c *Config) decode(root *yaml.Node, add func(*yaml.Node, string, string)) {
	d := decoder{add}
	d.mapping("", []yamlstrict.Field{
		{Key: "version"},
		{Key: "practice", Set: d.str(&c.Practice)},
		{Key: "database", Set: d.mapping("database", []yamlstrict.Field{
			{Key: "url", Set: d.str(&c.Database.URL)},
			{Key: "url_file", Set: d.str(&c.Database.URLFile)},
			{Key: "url_env", Set: d.str(&c.Database.URLEnv)},
			{Key: "profile", Set: d.str(&c.Database.Profile)},
			{Key: "timeout", Set: d.duration(&c.Database.Timeout)},
			{Key: "profile_parameters", Set: d.strMap("database.profile_parameters", &c.Database.ProfileParameters)},
		})},
		{Key: "collector", Set: d.mapping("collector", []yamlstrict.Field{
			{Key: "url", Set: d.str(&c.Collector.URL)},
			{Key: "ca_file", Set: d.str(&c.Collector.CAFile)},
			{Key: "timeout", Set: d.duration(&c.Collector.Timeout)},
		})},
		{Key: "schedule", Set: d.mapping("schedule", []yamlstrict.Field{
			{Key: "day_of_month", Set: d.integer(&c.Schedule.DayOfMonth)},
			{Key: "time", Set: d.str(&c.Schedule.Time)},
			{Key: "catch_up_months", Set: d.integer(&c.Schedule.CatchUpMonths)},
			{Key: "first_as_of", Set: d.str(&c.Schedule.FirstAsOf)},
		})},
		{Key: "data_dir", Set: d.str(&c.DataDir)},
		{Key: "bundle", Set: d.mapping("bundle", []yamlstrict.Field{
			{Key: "pack", Set: d.str(&c.Bundle.Pack)},
			{Key: "trusted_root", Set: d.str(&c.Bundle.TrustedRoot)},
			{Key: "approval", Set: d.str(&c.Bundle.Approval)},
		})},
		{Key: "baseline", Set: d.str(&c.Baseline)},
		{Key: "heartbeat", Set: d.duration(&c.Heartbeat)},
		{Key: "log_level", Set: d.str(&c.LogLevel)},
		{Key: "quality", Set: d.mapping("quality", []yamlstrict.Field{
			{Key: "min_registered_adults", Set: d.integer(&c.Quality.MinRegisteredAdults)},
			{Key: "max_adults_change_percent", Set: d.integer(&c.Quality.MaxAdultsChangePercent)},
			{Key: "max_opioid_change_percent", Set: d.integer(&c.Quality.MaxOpioidChangePercent)},
			{Key: "min_opioid_change", Set: d.integer(&c.Quality.MinOpioidChange)},
			{Key: "max_unreadable_percent", Set: d.integer(&c.Quality.MaxUnreadablePercent)},
			{Key: "max_extract_age_days", Set: d.integer(&c.Quality.MaxExtractAgeDays)},
			{Key: "clock_tolerance", Set: d.duration(&c.Quality.ClockTolerance)},
		})},
	})(root)
}

// decoder reads values. A key with nothing after it (`timeout:`) leaves
// the default, as a missing key does.
type decoder struct {
	add func(*yaml.Node, string, string)
}

// mapping reads the mapping at path ("" for the top level) with fields.
func (d decoder) mapping(path string, fields []yamlstrict.Field) func(*yaml.Node) {
	where := "at the top level"
	if path != "" {
		where = "in " + path
	}
	return func(n *yaml.Node) {
		if n.Kind != yaml.MappingNode {
			d.add(n, fmt.Sprintf("%s must be a mapping", path), "indent its keys below it")
			return
		}
		for _, kp := range yamlstrict.Decode(n, fields) {
			switch kp.Kind {
			case yamlstrict.UnknownKey:
				d.add(kp.Key, fmt.Sprintf("unknown key %q %s", kp.Key.Value, where), "known keys: "+strings.Join(kp.Allowed, ", "))
			case yamlstrict.DuplicateKey:
				d.add(kp.Key, fmt.Sprintf("key %q given twice %s", kp.Key.Value, where), fmt.Sprintf("keep one: the first is on line %d", kp.First.Line))
			case yamlstrict.KeyNotScalar:
				d.add(kp.Key, "a key "+where+" is a list or a mapping", "keys are plain names")
			}
		}
	}
}

// scalar says whether n is a value to read: not when it is blank, nor,
// after saying so, when it is a list or a mapping.
func (d decoder) scalar(n *yaml.Node) bool {
	switch {
	case n.Tag == "!!null":
		return false
	case n.Kind != yaml.ScalarNode:
		d.add(n, "a single value is expected here, not a list or a mapping", "write the value after the colon")
		return false
	}
	return true
}

func (d decoder) str(dst *string) func(*yaml.Node) {
	return func(n *yaml.Node) {
		if d.scalar(n) {
			*dst = n.Value
		}
	}
}

// strMap reads a mapping of names to single values.
func (d decoder) strMap(path string, dst *map[string]string) func(*yaml.Node) {
	return func(n *yaml.Node) {
		if n.Tag == "!!null" {
			return
		}
		if n.Kind != yaml.MappingNode {
			d.add(n, path+" must be a mapping of names to values", "e.g. organisation_id: 12345, indented below it")
			return
		}
		pairs, kps := yamlstrict.Keys(n, nil)
		for _, kp := range kps {
			switch kp.Kind {
			case yamlstrict.DuplicateKey:
				d.add(kp.Key, fmt.Sprintf("key %q given twice in %s", kp.Key.Value, path), fmt.Sprintf("keep one: the first is on line %d", kp.First.Line))
			default:
				d.add(kp.Key, "a key in "+path+" is a list or a mapping", "keys are plain names")
			}
		}
		m := map[string]string{}
		for _, p := range pairs {
			if d.scalar(p.Value) {
				m[p.Key.Value] = p.Value.Value
			}
		}
		*dst = m
	}
}

func (d decoder) integer(dst *int) func(*yaml.Node) {
	return func(n *yaml.Node) {
		if !d.scalar(n) {
			return
		}
		if v, ok := yamlstrict.Int(n); ok {
			*dst = int(v)
		} else {
			d.add(n, fmt.Sprintf("%q is not a whole number", n.Value), "write digits only, e.g. 5")
		}
	}
}

func (d decoder) duration(dst *Duration) func(*yaml.Node) {
	return func(n *yaml.Node) {
		if !d.scalar(n) {
			return
		}
		if v, ok := yamlstrict.Duration(n); ok {
			dst.Duration = v
		} else {
			d.add(n, fmt.Sprintf("%q is not a duration", n.Value), "write e.g. 30s, 15m or 6h")
		}
	}
}

func (c *Config) applyDefaults() {
	if c.Database.Profile == "" {
		c.Database.Profile = "canonical"
	}
	if c.Database.Timeout.Duration == 0 {
		c.Database.Timeout.Duration = 30 * time.Minute
	}
	if c.Collector.Timeout.Duration == 0 {
		c.Collector.Timeout.Duration = 60 * time.Second
	}
	if c.Schedule.DayOfMonth == 0 {
		c.Schedule.DayOfMonth = 5
	}
	if c.Schedule.Time == "" {
		c.Schedule.Time = "02:00"
	}
	if c.Schedule.CatchUpMonths == 0 {
		c.Schedule.CatchUpMonths = 12
	}
	if c.Bundle.Pack == "" {
		c.Bundle.Pack = "medsip"
	}
	if c.Bundle.Approval == "" {
		c.Bundle.Approval = "automatic"
	}
	if c.Heartbeat.Duration == 0 {
		c.Heartbeat.Duration = 6 * time.Hour
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.DataDir != "" && !filepath.IsAbs(c.DataDir) {
		c.DataDir = filepath.Join(filepath.Dir(c.path), c.DataDir)
	}
	if profile.IsFile(c.Database.Profile) && !filepath.IsAbs(c.Database.Profile) {
		c.Database.Profile = filepath.Join(filepath.Dir(c.path), c.Database.Profile)
	}
	for _, p := range []*string{&c.Database.URLFile, &c.Collector.CAFile, &c.Bundle.TrustedRoot} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(filepath.Dir(c.path), *p)
		}
	}
}

func monthEnd(s string) bool {
	t, err := time.Parse(time.DateOnly, s)
	return err == nil && t.AddDate(0, 0, 1).Day() == 1
}

func (c *Config) validate(root *yaml.Node, add func(*yaml.Node, string, string)) {
	at := func(key string) *yaml.Node {
		if n := yamlstrict.Lookup(root, strings.Split(key, ".")...); n != nil {
			return n
		}
		return root
	}
	if !odsPattern.MatchString(c.Practice) {
		add(at("practice"), fmt.Sprintf("practice %q is not an ODS code", c.Practice), "write the practice's ODS code, e.g. Y01234")
	}
	n := 0
	for _, s := range []string{c.Database.URL, c.Database.URLFile, c.Database.URLEnv} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		add(at("database"), "give the database as exactly one of url, url_file or url_env",
			"put a URL with a password in a file readable only by the service account and use url_file")
	}
	if c.Database.URL != "" {
		if u, err := url.Parse(c.Database.URL); err == nil && u.User != nil {
			if _, has := u.User.Password(); has {
				add(at("database.url"), "the database url holds a password", "move it to a file named by url_file, or an environment variable named by url_env")
			}
		}
	}
	q := c.Quality
	for _, f := range []struct {
		key string
		v   int
	}{{"min_registered_adults", q.MinRegisteredAdults}, {"max_adults_change_percent", q.MaxAdultsChangePercent},
		{"max_opioid_change_percent", q.MaxOpioidChangePercent}, {"min_opioid_change", q.MinOpioidChange},
		{"max_unreadable_percent", q.MaxUnreadablePercent}, {"max_extract_age_days", q.MaxExtractAgeDays}} {
		if f.v < 0 || (strings.HasSuffix(f.key, "_percent") && f.v > 100) {
			add(at("quality."+f.key), fmt.Sprintf("quality.%s %d is out of range", f.key, f.v), "use 0 (off) to 100 for a percentage, 0 or more for a count")
		}
	}
	if q.ClockTolerance.Duration < time.Minute || q.ClockTolerance.Duration > 24*time.Hour {
		add(at("quality.clock_tolerance"), "quality.clock_tolerance must be between 1m and 24h", "e.g. 1h")
	}
	c.validateProfile(at, add)
	if c.Collector.URL == "" {
		add(at("collector"), "collector.url is missing", "ask your ICB for the collector's address")
	} else if u, err := url.Parse(c.Collector.URL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		add(at("collector.url"), fmt.Sprintf("collector url %q is not an https URL", c.Collector.URL), "e.g. https://steward.icb.example")
	}
	if c.Schedule.DayOfMonth < 1 || c.Schedule.DayOfMonth > 28 {
		add(at("schedule.day_of_month"), fmt.Sprintf("day_of_month %d is not between 1 and 28", c.Schedule.DayOfMonth), "every month has days 1 to 28")
	}
	if _, err := time.Parse("15:04", c.Schedule.Time); err != nil {
		add(at("schedule.time"), fmt.Sprintf("time %q is not HH:MM", c.Schedule.Time), "e.g. 02:00")
	}
	if c.Schedule.CatchUpMonths < 0 || c.Schedule.CatchUpMonths > 60 {
		add(at("schedule.catch_up_months"), "catch_up_months must be between 0 and 60", "")
	}
	if c.Schedule.FirstAsOf != "" && !monthEnd(c.Schedule.FirstAsOf) {
		add(at("schedule.first_as_of"), fmt.Sprintf("first_as_of %q is not a month end", c.Schedule.FirstAsOf), "e.g. 2025-04-30")
	}
	if c.Baseline != "" && !monthEnd(c.Baseline) {
		add(at("baseline"), fmt.Sprintf("baseline %q is not a month end", c.Baseline), "use the scheme's baseline, e.g. 2024-03-31")
	}
	if c.DataDir == "" {
		add(at("data_dir"), "data_dir is missing", "a directory the service account can write, e.g. /var/lib/steward")
	}
	switch c.Bundle.Approval {
	case "automatic", "manual":
	default:
		add(at("bundle.approval"), fmt.Sprintf("approval %q is not automatic or manual", c.Bundle.Approval), "")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		add(at("log_level"), fmt.Sprintf("log_level %q is not debug, info, warn or error", c.LogLevel), "")
	}
	if c.Database.Timeout.Duration < 0 {
		add(at("database.timeout"), "database.timeout must be positive", "e.g. 30m, or leave it out for the default")
	}
	if c.Collector.Timeout.Duration < 0 {
		add(at("collector.timeout"), "collector.timeout must be positive", "e.g. 60s, or leave it out for the default")
	}
	if c.Heartbeat.Duration < time.Minute {
		add(at("heartbeat"), "heartbeat must be at least 1m", "")
	}
}

// validateProfile loads the profile the config names and checks its
// parameters against it, each problem at its key.
func (c *Config) validateProfile(at func(string) *yaml.Node, add func(*yaml.Node, string, string)) {
	prof, err := profile.Load(c.Database.Profile, "")
	var ps profile.Problems
	switch {
	case errors.As(err, &ps):
		add(at("database.profile"), fmt.Sprintf("profile file %s has %d %s, the first: %s: %s", c.Database.Profile, len(ps),
			plural(len(ps), "problem"), ps[0].Pos, ps[0].Msg),
			"run `steward profile lint "+c.Database.Profile+"` for every problem and its fix")
		return
	case err != nil && profile.IsFile(c.Database.Profile):
		add(at("database.profile"), fmt.Sprintf("profile file %s cannot be read", c.Database.Profile),
			"give a built-in profile (canonical, tpp, emis) or the path of a profile file, relative to this config")
		return
	case err != nil:
		add(at("database.profile"), fmt.Sprintf("unknown profile %q", c.Database.Profile),
			"use canonical, tpp (SystmOne) or emis (EMIS Web), or the path of a profile file (*.yaml)")
		return
	}
	for _, name := range sortedKeys(c.Database.ProfileParameters) {
		prm, ok := prof.Parameter(name)
		key := "database.profile_parameters." + name
		if !ok {
			fix := "profile " + prof.Name + " declares no parameters: remove it"
			if len(prof.Parameters) > 0 {
				var names []string
				for _, p := range prof.Parameters {
					names = append(names, p.Name)
				}
				fix = "profile " + prof.Name + " declares " + strings.Join(names, ", ")
			}
			add(keyAt(at, key), fmt.Sprintf("profile %s has no parameter %q", prof.Name, name), fix)
			continue
		}
		if _, err := prm.Parse(c.Database.ProfileParameters[name]); err != nil {
			add(at(key), fmt.Sprintf("profile parameter %s: %v", name, err), "want "+string(prm.Type)+": "+prm.Description)
		}
	}
	for _, prm := range prof.Parameters {
		if _, ok := c.Database.ProfileParameters[prm.Name]; !ok && !prm.HasDefault {
			add(at("database.profile"), fmt.Sprintf("profile %s needs parameter %s", prof.Name, prm.Name),
				fmt.Sprintf("add `profile_parameters: {%s: VALUE}` under database: %s", prm.Name, prm.Description))
		}
	}
}

// keyAt places a problem at a key rather than its value.
func keyAt(at func(string) *yaml.Node, key string) *yaml.Node {
	parent := key[:strings.LastIndex(key, ".")]
	name := key[strings.LastIndex(key, ".")+1:]
	if n := at(parent); n != nil && n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == name {
				return n.Content[i]
			}
		}
	}
	return at(key)
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// Profile returns the schema profile the config names, with its
// parameters bound to database.profile_parameters.
func (c *Config) Profile() (*profile.Profile, error) {
	prof, err := profile.Load(c.Database.Profile, "")
	if err != nil {
		return nil, err
	}
	return prof.Bind(c.Database.ProfileParameters)
}

// Path is the file the config was read from.
func (c *Config) Path() string { return c.path }

// DatabaseURL returns the database URL from wherever the config says it is.
// It is a secret: never log it.
func (c *Config) DatabaseURL() (string, error) {
	switch {
	case c.Database.URL != "":
		return c.Database.URL, nil
	case c.Database.URLFile != "":
		b, err := os.ReadFile(c.Database.URLFile)
		if err != nil {
			return "", fmt.Errorf("database url_file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	default:
		v := os.Getenv(c.Database.URLEnv)
		if v == "" {
			return "", fmt.Errorf("database url_env: environment variable %s is empty", c.Database.URLEnv)
		}
		return v, nil
	}
}

// BaselineDate returns the baseline, or the zero time.
func (c *Config) BaselineDate() time.Time {
	t, _ := time.Parse(time.DateOnly, c.Baseline)
	return t
}

// KeyPath is where the practice's signing key lives.
func (c *Config) KeyPath() string { return filepath.Join(c.DataDir, "practice.key") }

// CollectorKeyPath is where the collector's receipt key is pinned.
func (c *Config) CollectorKeyPath() string { return filepath.Join(c.DataDir, "collector.pub") }
