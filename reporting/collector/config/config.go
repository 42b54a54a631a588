// Package config reads steward-collector's YAML configuration: strict and
// versioned. The version is read first; then every key is checked against
// the keys that version knows, so a typo is reported with its file, line
// and column instead of being silently ignored.
package config

import (
	_ "embed"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/nhs-steward/steward/internal/yamlstrict"
)

// Config is version 1 of the collector's configuration.
type Config struct {
	Version int
	// Listen is the TCP address to serve on, e.g. "0.0.0.0:8443".
	Listen string
	// TLSCert and TLSKey are PEM files; both or neither. Without them the
	// collector serves plain HTTP, allowed only on a loopback address
	// (behind a TLS-terminating proxy on the same machine).
	TLSCert, TLSKey string
	// Storage is "sqlite:PATH" or "postgres://...". A relative SQLite path
	// is relative to the configuration file.
	Storage string
	// ICB is the ICB code the collector serves.
	ICB string
	// EnrolmentCodeLifetime is how long a one-time enrolment code is valid.
	EnrolmentCodeLifetime time.Duration
	// HeartbeatSilenceDays is how many days without a heartbeat make a
	// practice "silent".
	HeartbeatSilenceDays int
	// MaxRequestBytes limits a request body.
	MaxRequestBytes int64
	// SessionLifetime is how long a browser sign-in lasts.
	SessionLifetime time.Duration
	// ShutdownTimeout is how long shutdown waits for requests in flight.
	ShutdownTimeout time.Duration
	// TUFRepository is the search-bundle repository folder (made with
	// `steward-collector tuf init`) that serve serves to agents and accepts
	// releases into; "" serves none. A relative path is relative to the
	// configuration file.
	TUFRepository string
	// ReceiptKey is the file holding the ed25519 key the collector signs
	// submission receipts with (made on first start). Agents pin its public
	// half at enrolment: back it up with the store. A relative path is
	// relative to the configuration file.
	ReceiptKey string
	// SignIn bounds the browser sign-in (sign_in in the file).
	SignIn SignIn
	// APITokenLifetime is how long an API token made by `user add` or
	// `user token rotate` works.
	APITokenLifetime time.Duration
	// HeartbeatHistoryDays is how many days of heartbeats are kept (at
	// most one per practice per hour); each practice's latest is kept
	// whatever its age.
	HeartbeatHistoryDays int
	// PruneEvery is how often serve deletes heartbeat history older than
	// HeartbeatHistoryDays, expired sessions, tokens and lockouts, used or
	// expired enrolment codes and old heartbeat nonces.
	PruneEvery time.Duration
}

// SignIn is the sign_in mapping.
type SignIn struct {
	// MemoryBudgetMiB is the memory password checks may use at once: the
	// number of concurrent checks is this divided by 64 (MiB per argon2id
	// hash).
	MemoryBudgetMiB int64
	// QueueWait is how long a sign-in waits for a free check before 429.
	QueueWait time.Duration
	// AccountLockoutAfter and AddressLockoutAfter failed sign-ins for one
	// name or from one client address lock it for LockoutDuration.
	AccountLockoutAfter, AddressLockoutAfter int
	LockoutDuration                          time.Duration
	// ClientAddressHeader is the header a TLS proxy on the same machine
	// puts the client's address in (X-Forwarded-For); "" when clients
	// connect directly.
	ClientAddressHeader string
}

// Defaults are the values of keys a file leaves out.
func Defaults() Config {
	return Config{
		Version:               1,
		Listen:                "127.0.0.1:8080",
		Storage:               "sqlite:steward-collector.db",
		EnrolmentCodeLifetime: 72 * time.Hour,
		HeartbeatSilenceDays:  3,
		MaxRequestBytes:       1 << 20,
		SessionLifetime:       12 * time.Hour,
		ShutdownTimeout:       30 * time.Second,
		ReceiptKey:            "steward-collector-receipt.key",
		SignIn: SignIn{
			MemoryBudgetMiB: 128, QueueWait: 2 * time.Second,
			AccountLockoutAfter: 10, AddressLockoutAfter: 100, LockoutDuration: 15 * time.Minute,
		},
		APITokenLifetime:     90 * 24 * time.Hour,
		HeartbeatHistoryDays: 30,
		PruneEvery:           time.Hour,
	}
}

// Problem is one thing wrong with a file, at its line and column: the
// diagnostic every loader shares (internal/diag).
type Problem = yamlstrict.Problem

// Error lists every problem found in one pass, in file order.
type Error = yamlstrict.Problems

// Load reads and validates the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	cfg.resolve(filepath.Dir(path))
	return cfg, nil
}

// Parse decodes and validates data, naming it file in problems. Relative
// paths are left as they are.
func Parse(file string, data []byte) (*Config, error) {
	p := &parser{file: file}
	root, err := yamlstrict.Parse(data)
	if err != nil {
		return nil, Error{yamlstrict.ParseProblem(file, err, yamlstrict.Fixes{
			Empty:  "start it with `version: 1`",
			Second: "the file must hold one: remove the `---` and what follows",
		})}
	}
	if root.Kind != yaml.MappingNode {
		p.add(root, "the configuration must be a mapping of keys to values")
		return nil, p.err()
	}
	cfg := Defaults()
	vnode := yamlstrict.Lookup(root, "version")
	if vnode == nil {
		p.add(root, "version is required: start the file with `version: 1`")
		return nil, p.err()
	}
	if vnode.Kind != yaml.ScalarNode || vnode.Value != "1" {
		p.add(vnode, fmt.Sprintf("unsupported version %q: this collector reads version 1", vnode.Value))
		return nil, p.err()
	}
	p.v1(root, &cfg)
	if len(p.problems) == 0 {
		p.validate(root, &cfg)
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

type parser struct {
	file     string
	problems Error
}

func (p *parser) add(n *yaml.Node, msg string) {
	p.problems = append(p.problems, Problem{Pos: yamlstrict.At(p.file, n), Msg: msg})
}

// err returns the problems found, in file order.
func (p *parser) err() error {
	return p.problems.Err()
}

// fields decodes mapping m with fields, reporting unknown and repeated
// keys; where (" in tls") says which mapping.
func (p *parser) fields(m *yaml.Node, where string, fields []yamlstrict.Field) {
	for _, kp := range yamlstrict.Decode(m, fields) {
		switch kp.Kind {
		case yamlstrict.UnknownKey:
			known := slices.Sorted(slices.Values(kp.Allowed))
			p.add(kp.Key, fmt.Sprintf("unknown key %q%s (known keys: %s)", kp.Key.Value, where, strings.Join(known, ", ")))
		case yamlstrict.DuplicateKey:
			p.add(kp.Key, fmt.Sprintf("key %q given twice%s", kp.Key.Value, where))
		case yamlstrict.KeyNotScalar:
			p.add(kp.Key, fmt.Sprintf("a key%s is a list or a mapping: keys are plain names", where))
		}
	}
}

func (p *parser) str(dst *string, name string) func(*yaml.Node) {
	return func(v *yaml.Node) {
		if v.Kind != yaml.ScalarNode || (v.Tag != "!!str" && v.Tag != "!!int") {
			p.add(v, fmt.Sprintf("%s must be a string", name))
			return
		}
		*dst = v.Value
	}
}

func (p *parser) integer(name string, f func(int64)) func(*yaml.Node) {
	return func(v *yaml.Node) {
		n, ok := yamlstrict.Int(v)
		if !ok {
			p.add(v, fmt.Sprintf("%s must be a whole number, not %q", name, v.Value))
			return
		}
		f(n)
	}
}

func (p *parser) duration(dst *time.Duration, name string) func(*yaml.Node) {
	return func(v *yaml.Node) {
		d, ok := yamlstrict.Duration(v)
		if !ok {
			p.add(v, fmt.Sprintf("%s must be a duration such as 72h, 30m or 3d, not %q", name, v.Value))
			return
		}
		*dst = d
	}
}

func (p *parser) v1(root *yaml.Node, cfg *Config) {
	p.fields(root, "", []yamlstrict.Field{
		{Key: "version"},
		{Key: "listen", Set: p.str(&cfg.Listen, "listen")},
		{Key: "tls", Set: func(v *yaml.Node) {
			if v.Kind != yaml.MappingNode {
				p.add(v, "tls must be a mapping with cert and key")
				return
			}
			p.fields(v, " in tls", []yamlstrict.Field{
				{Key: "cert", Set: p.str(&cfg.TLSCert, "tls.cert")},
				{Key: "key", Set: p.str(&cfg.TLSKey, "tls.key")},
			})
		}},
		{Key: "storage", Set: p.str(&cfg.Storage, "storage")},
		{Key: "icb", Set: p.str(&cfg.ICB, "icb")},
		{Key: "enrolment_code_lifetime", Set: p.duration(&cfg.EnrolmentCodeLifetime, "enrolment_code_lifetime")},
		{Key: "heartbeat_silence_days", Set: p.integer("heartbeat_silence_days", func(n int64) { cfg.HeartbeatSilenceDays = int(n) })},
		{Key: "max_request_bytes", Set: p.integer("max_request_bytes", func(n int64) { cfg.MaxRequestBytes = n })},
		{Key: "session_lifetime", Set: p.duration(&cfg.SessionLifetime, "session_lifetime")},
		{Key: "shutdown_timeout", Set: p.duration(&cfg.ShutdownTimeout, "shutdown_timeout")},
		{Key: "tuf_repository", Set: p.str(&cfg.TUFRepository, "tuf_repository")},
		{Key: "receipt_key", Set: p.str(&cfg.ReceiptKey, "receipt_key")},
		{Key: "sign_in", Set: func(v *yaml.Node) {
			if v.Kind != yaml.MappingNode {
				p.add(v, "sign_in must be a mapping (see the example configuration)")
				return
			}
			si := &cfg.SignIn
			p.fields(v, " in sign_in", []yamlstrict.Field{
				{Key: "memory_budget_mib", Set: p.integer("sign_in.memory_budget_mib", func(n int64) { si.MemoryBudgetMiB = n })},
				{Key: "queue_wait", Set: p.duration(&si.QueueWait, "sign_in.queue_wait")},
				{Key: "account_lockout_after", Set: p.integer("sign_in.account_lockout_after", func(n int64) { si.AccountLockoutAfter = int(n) })},
				{Key: "address_lockout_after", Set: p.integer("sign_in.address_lockout_after", func(n int64) { si.AddressLockoutAfter = int(n) })},
				{Key: "lockout_duration", Set: p.duration(&si.LockoutDuration, "sign_in.lockout_duration")},
				{Key: "client_address_header", Set: p.str(&si.ClientAddressHeader, "sign_in.client_address_header")},
			})
		}},
		{Key: "api_token_lifetime", Set: p.duration(&cfg.APITokenLifetime, "api_token_lifetime")},
		{Key: "heartbeat_history_days", Set: p.integer("heartbeat_history_days", func(n int64) { cfg.HeartbeatHistoryDays = int(n) })},
		{Key: "prune_every", Set: p.duration(&cfg.PruneEvery, "prune_every")},
	})
}

var headerPattern = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

var icbPattern = regexp.MustCompile(`^[A-Z0-9]{3,5}$`)

// validate checks values; problems point at the key's value where there is
// one, else at the top of the file.
func (p *parser) validate(root *yaml.Node, cfg *Config) {
	at := func(key string) *yaml.Node {
		if n := yamlstrict.Lookup(root, key); n != nil {
			return n
		}
		return root
	}
	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		p.add(at("listen"), fmt.Sprintf("listen %q is not host:port (e.g. 0.0.0.0:8443)", cfg.Listen))
	} else if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		p.add(at("tls"), "tls needs both cert and key")
	} else if cfg.TLSCert == "" && !isLoopback(host) {
		p.add(at("listen"), fmt.Sprintf("plain HTTP on %q is not allowed: set tls.cert and tls.key, or listen on a loopback address behind a TLS proxy", cfg.Listen))
	}
	switch {
	case strings.HasPrefix(cfg.Storage, "sqlite:"):
		if strings.TrimPrefix(cfg.Storage, "sqlite:") == "" {
			p.add(at("storage"), "storage sqlite: needs a path (sqlite:/var/lib/steward/collector.db)")
		}
	case strings.HasPrefix(cfg.Storage, "postgres://"), strings.HasPrefix(cfg.Storage, "postgresql://"):
	default:
		p.add(at("storage"), "storage must be sqlite:PATH or a postgres:// URL")
	}
	if !icbPattern.MatchString(cfg.ICB) {
		p.add(at("icb"), fmt.Sprintf("icb %q must be the ICB's ODS code, e.g. QWE", cfg.ICB))
	}
	if cfg.EnrolmentCodeLifetime < time.Minute || cfg.EnrolmentCodeLifetime > 30*24*time.Hour {
		p.add(at("enrolment_code_lifetime"), "enrolment_code_lifetime must be between 1m and 30d")
	}
	if cfg.HeartbeatSilenceDays < 1 {
		p.add(at("heartbeat_silence_days"), "heartbeat_silence_days must be at least 1")
	}
	if cfg.MaxRequestBytes < 4096 || cfg.MaxRequestBytes > 64<<20 {
		p.add(at("max_request_bytes"), "max_request_bytes must be between 4096 and 67108864")
	}
	if cfg.SessionLifetime < time.Minute {
		p.add(at("session_lifetime"), "session_lifetime must be at least 1m")
	}
	if cfg.ShutdownTimeout < time.Second {
		p.add(at("shutdown_timeout"), "shutdown_timeout must be at least 1s")
	}
	in := func(key string) *yaml.Node {
		if m := yamlstrict.Lookup(root, "sign_in"); m != nil && m.Kind == yaml.MappingNode {
			if n := yamlstrict.Lookup(m, key); n != nil {
				return n
			}
			return m
		}
		return root
	}
	si := cfg.SignIn
	if si.MemoryBudgetMiB < 64 || si.MemoryBudgetMiB > 65536 {
		p.add(in("memory_budget_mib"), "sign_in.memory_budget_mib must be between 64 (one password check at a time) and 65536")
	}
	if si.QueueWait < 100*time.Millisecond || si.QueueWait > time.Minute {
		p.add(in("queue_wait"), "sign_in.queue_wait must be between 100ms and 1m")
	}
	if si.AccountLockoutAfter < 3 || si.AccountLockoutAfter > 1000 {
		p.add(in("account_lockout_after"), "sign_in.account_lockout_after must be between 3 and 1000 failed sign-ins")
	}
	if si.AddressLockoutAfter < si.AccountLockoutAfter || si.AddressLockoutAfter > 1_000_000 {
		p.add(in("address_lockout_after"), "sign_in.address_lockout_after must be at least account_lockout_after (many people may share one address) and at most 1000000")
	}
	if si.LockoutDuration < time.Minute || si.LockoutDuration > 24*time.Hour {
		p.add(in("lockout_duration"), "sign_in.lockout_duration must be between 1m and 24h")
	}
	if si.ClientAddressHeader != "" && !headerPattern.MatchString(si.ClientAddressHeader) {
		p.add(in("client_address_header"), fmt.Sprintf("sign_in.client_address_header %q must be a header name such as X-Forwarded-For", si.ClientAddressHeader))
	}
	if cfg.APITokenLifetime < time.Hour || cfg.APITokenLifetime > 400*24*time.Hour {
		p.add(at("api_token_lifetime"), "api_token_lifetime must be between 1h and 400d")
	}
	if cfg.HeartbeatHistoryDays < 1 || cfg.HeartbeatHistoryDays > 3650 {
		p.add(at("heartbeat_history_days"), "heartbeat_history_days must be between 1 and 3650")
	}
	if cfg.PruneEvery < time.Minute || cfg.PruneEvery > 24*time.Hour {
		p.add(at("prune_every"), "prune_every must be between 1m and 24h")
	}
	if n := yamlstrict.Lookup(root, "tuf_repository"); n != nil && strings.TrimSpace(cfg.TUFRepository) == "" {
		p.add(n, "tuf_repository must name the repository folder made with `steward-collector tuf init` (or leave the key out to serve no search bundles)")
	}
	if strings.TrimSpace(cfg.ReceiptKey) == "" {
		p.add(at("receipt_key"), "receipt_key must name a file (it is made on first start); leave the key out for steward-collector-receipt.key beside this file")
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// resolve makes relative file paths relative to dir, the configuration
// file's directory.
func (c *Config) resolve(dir string) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	c.TLSCert, c.TLSKey = abs(c.TLSCert), abs(c.TLSKey)
	c.TUFRepository = abs(c.TUFRepository)
	c.ReceiptKey = abs(c.ReceiptKey)
	if path, ok := strings.CutPrefix(c.Storage, "sqlite:"); ok {
		c.Storage = "sqlite:" + abs(path)
	}
}

// Example is a commented configuration to start from.
//
//go:embed example.yaml
var Example string
