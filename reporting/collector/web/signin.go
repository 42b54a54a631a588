package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/auth"
)

// SignInLimits bound the work and the guessing a sign-in form allows.
// Zero fields take the defaults in brackets.
type SignInLimits struct {
	// MemoryBudget is the memory, in bytes, that password checks may use
	// at once [128 MiB]: the pool of concurrent checks is MemoryBudget
	// divided by the memory of one argon2id hash (64 MiB), and no more
	// checks than leave a processor for other requests (PoolSize), at
	// least one.
	MemoryBudget int64
	// Procs is the processors the service may use [runtime.GOMAXPROCS].
	Procs int
	// QueueWait is how long a sign-in waits for a place in the pool
	// before it is answered 429 with Retry-After [2s].
	QueueWait time.Duration
	// AccountLockoutAfter failed sign-ins for one name, and
	// AddressLockoutAfter from one client address, lock it for LockoutFor
	// [10, 100, 15m]. Before that, after the first few failures (3 for a
	// name, 10 for an address) each further attempt must wait twice as
	// long as the last, from 1 s up to 1 min, or gets 429 with
	// Retry-After. Failures are forgotten LockoutFor after the last one.
	AccountLockoutAfter, AddressLockoutAfter int
	LockoutFor                               time.Duration
	// ClientAddressHeader names a header (X-Forwarded-For) that a TLS
	// proxy on the same machine sets: for requests from a loopback
	// address the client address is the last one in it. Empty: the
	// connection's address.
	ClientAddressHeader string
	// MaxTracked bounds the names and addresses whose failures are
	// remembered [100,000]; beyond it the oldest are forgotten first.
	MaxTracked int
}

func (l SignInLimits) withDefaults() SignInLimits {
	if l.MemoryBudget <= 0 {
		l.MemoryBudget = 128 << 20
	}
	if l.QueueWait <= 0 {
		l.QueueWait = 2 * time.Second
	}
	if l.AccountLockoutAfter <= 0 {
		l.AccountLockoutAfter = 10
	}
	if l.AddressLockoutAfter <= 0 {
		l.AddressLockoutAfter = 100
	}
	if l.LockoutFor <= 0 {
		l.LockoutFor = 15 * time.Minute
	}
	if l.MaxTracked <= 0 {
		l.MaxTracked = 100_000
	}
	if l.Procs <= 0 {
		l.Procs = runtime.GOMAXPROCS(0)
	}
	return l
}

// Growing delays between failed sign-ins.
const (
	accountFreeFailures = 3
	addressFreeFailures = 10
	firstDelay          = time.Second
	maxDelay            = time.Minute
)

// PoolSize is how many password checks run at once: as many as budget
// bytes hold (64 MiB each), but no more than procs-1, since each check
// keeps a processor busy (argon2id with one lane): more at once would only
// make every one slower, and one processor is left for the rest of the
// service; at least one.
func PoolSize(budget int64, procs int) int64 {
	return max(1, min(budget/auth.HashMemoryBytes, int64(procs-1)))
}

// hashPool bounds the memory and the processors of password checks
// running at once.
type hashPool struct {
	mem   *semaphore.Weighted
	total int64 // MiB
	cpu   *semaphore.Weighted
	lanes int64
}

func newHashPool(budget int64, procs int) *hashPool {
	n := PoolSize(budget, procs)
	total := n * auth.HashMemoryBytes >> 20
	lanes := n * auth.HashLanes
	return &hashPool{mem: semaphore.NewWeighted(total), total: total, cpu: semaphore.NewWeighted(lanes), lanes: lanes}
}

func (p *hashPool) size() int64 { return p.total / (auth.HashMemoryBytes >> 20) }

// acquire waits at most wait for the memory and processors to check
// against a hash needing mem bytes and lanes processors (a stored hash
// needing more than the whole pool takes all of it); it returns a release
// function, or false.
func (p *hashPool) acquire(ctx context.Context, mem int64, lanes int, wait time.Duration) (func(), bool) {
	n := min(max(mem>>20, 1), p.total)
	c := min(max(int64(lanes), 1), p.lanes)
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := p.mem.Acquire(ctx, n); err != nil {
		return nil, false
	}
	if err := p.cpu.Acquire(ctx, c); err != nil {
		p.mem.Release(n)
		return nil, false
	}
	return func() { p.cpu.Release(c); p.mem.Release(n) }, true
}

// throttle remembers recent failed sign-ins per name and per address.
type throttle struct {
	mu      sync.Mutex
	limits  SignInLimits
	entries map[string]*failures
}

type failures struct {
	n    int
	last time.Time
}

func newThrottle(l SignInLimits) *throttle {
	return &throttle{limits: l, entries: map[string]*failures{}}
}

func (t *throttle) free(key string) int {
	if strings.HasPrefix(key, addressPrefix) {
		return addressFreeFailures
	}
	return accountFreeFailures
}

// delay is how long after its last failure key may try again.
func delay(n, free int) time.Duration {
	if n < free {
		return 0
	}
	d := firstDelay
	for i := free; i < n && d < maxDelay; i++ {
		d *= 2
	}
	return min(d, maxDelay)
}

// wait returns how long the caller must still wait before an attempt for
// keys is allowed (0: now).
func (t *throttle) wait(now time.Time, keys ...string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var w time.Duration
	for _, k := range keys {
		f, ok := t.entries[k]
		if !ok {
			continue
		}
		if now.Sub(f.last) > t.limits.LockoutFor {
			delete(t.entries, k)
			continue
		}
		if until := f.last.Add(delay(f.n, t.free(k))); until.After(now) {
			w = max(w, until.Sub(now))
		}
	}
	return w
}

// fail counts a failure for key and reports whether it reaches lockAfter
// (the count then starts again: the lockout is kept in the store).
func (t *throttle) fail(now time.Time, key string, lockAfter int) (int, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.entries[key]
	if !ok || now.Sub(f.last) > t.limits.LockoutFor {
		t.makeRoom(now)
		f = &failures{}
		t.entries[key] = f
	}
	f.n++
	f.last = now
	if f.n >= lockAfter {
		n := f.n
		delete(t.entries, key)
		return n, true
	}
	return f.n, false
}

func (t *throttle) forget(key string) {
	t.mu.Lock()
	delete(t.entries, key)
	t.mu.Unlock()
}

// makeRoom keeps the map under MaxTracked: expired entries go first, then
// the least recently failed.
func (t *throttle) makeRoom(now time.Time) {
	if len(t.entries) < t.limits.MaxTracked {
		return
	}
	for k, f := range t.entries {
		if now.Sub(f.last) > t.limits.LockoutFor {
			delete(t.entries, k)
		}
	}
	for len(t.entries) >= t.limits.MaxTracked {
		var oldest string
		var at time.Time
		for k, f := range t.entries {
			if oldest == "" || f.last.Before(at) {
				oldest, at = k, f.last
			}
		}
		delete(t.entries, oldest)
	}
}

const (
	accountPrefix = "user:"
	addressPrefix = "address:"
)

// namePattern is what a user name may be (steward-collector user add).
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// ValidUserName reports whether name may be a user's name: 1 to 64 of
// letters, digits and . _ @ -, starting with a letter or digit.
func ValidUserName(name string) bool { return namePattern.MatchString(name) }

// AccountSubject is the throttling and lockout subject of a name typed at
// sign-in. Names no user can have share one key, so junk cannot fill the
// store's lockout table.
func AccountSubject(name string) string {
	if !ValidUserName(name) {
		return accountPrefix + "(not a valid name)"
	}
	return accountPrefix + strings.ToLower(name)
}

// clientAddress is the address failures are counted against: the
// connection's, or behind a proxy on the same machine the last address
// of ClientAddressHeader. IPv6 addresses count by /64, the block one
// client is usually given.
func (w *Web) clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if h := w.limits.ClientAddressHeader; h != "" && ip != nil && ip.IsLoopback() {
		if v := r.Header.Values(h); len(v) > 0 {
			parts := strings.Split(v[len(v)-1], ",")
			if fwd := net.ParseIP(strings.TrimSpace(parts[len(parts)-1])); fwd != nil {
				ip = fwd
			}
		}
	}
	if ip == nil {
		return addressPrefix + host
	}
	if ip.To4() == nil {
		ip = ip.Mask(net.CIDRMask(64, 128))
	}
	return addressPrefix + ip.String()
}

// tooMany answers 429 with Retry-After (whole seconds, at least 1) and the
// sign-in form carrying msg.
func (w *Web) tooMany(rw http.ResponseWriter, r *http.Request, after time.Duration, msg string) {
	secs := max(1, int((after+time.Second-1)/time.Second))
	rw.Header().Set("Retry-After", strconv.Itoa(secs))
	w.renderLogin(rw, r, http.StatusTooManyRequests, msg)
}

// signInFailed counts a failed sign-in against the name and the address
// and locks either when it reaches its limit (audited, logged).
func (w *Web) signInFailed(ctx context.Context, now time.Time, acct, addr string) {
	for _, k := range []struct {
		key   string
		after int
	}{{acct, w.limits.AccountLockoutAfter}, {addr, w.limits.AddressLockoutAfter}} {
		n, lock := w.throttle.fail(now, k.key, k.after)
		if !lock {
			continue
		}
		until := now.Add(w.limits.LockoutFor)
		if err := w.opts.Store.LockLogin(ctx, k.key, until, n, now); err != nil {
			w.log.Error("sign-in: record lockout", "subject", k.key, "err", err)
			continue
		}
		w.log.Warn("sign-in locked after repeated failures; it ends by itself, or unlock it with steward-collector user set --unlock",
			"subject", k.key, "failures", n, "until", until.UTC().Format(time.RFC3339))
	}
}

// checkSignIn decides a sign-in: nil for the right password of an enabled
// user with a password. Every other case, unknown name included, costs
// the same argon2id check, against auth.DummyHash when there is no usable
// hash. errBusy: no place in the hash pool in time.
func (w *Web) checkSignIn(ctx context.Context, name, password string) (collector.User, error) {
	u, err := w.opts.Store.UserByName(ctx, name)
	switch {
	case errors.Is(err, collector.ErrNotFound):
	case err != nil:
		return u, fmt.Errorf("look up user: %w", err)
	}
	usable := err == nil && !u.Disabled && u.PasswordHash != ""
	hash := auth.DummyHash()
	if usable {
		hash = u.PasswordHash
	}
	mem, lanes := auth.CostOf(hash)
	release, ok := w.pool.acquire(ctx, mem, lanes, w.limits.QueueWait)
	if !ok {
		return u, errBusy
	}
	checkErr := w.check(hash, password)
	release()
	if !usable || checkErr != nil {
		return u, errWrongPassword
	}
	return u, nil
}

var (
	errBusy          = errors.New("no place to check the password in time")
	errWrongPassword = errors.New("wrong name or password")
)
