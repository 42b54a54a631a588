package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/auth"
)

func (f *fakeStore) LockLogin(_ context.Context, subject string, until time.Time, _ int, _ time.Time) error {
	if f.lockouts == nil {
		f.lockouts = map[string]time.Time{}
	}
	f.lockouts[subject] = until
	f.audit = append(f.audit, "login.lockout "+subject)
	return nil
}

func (f *fakeStore) LoginLockedUntil(_ context.Context, subjects []string, now time.Time) (time.Time, error) {
	var until time.Time
	for _, s := range subjects {
		if u := f.lockouts[s]; u.After(now) && u.After(until) {
			until = u
		}
	}
	return until, nil
}

// signInRig is the web side over a fake store with a settable clock and a
// password check that counts its calls and records the hashes it was given.
type signInRig struct {
	f     *fakeStore
	h     http.Handler
	mu    sync.Mutex
	now   time.Time
	calls []string // encoded hashes checked
	block chan struct{}
}

func newSignInRig(t *testing.T, limits SignInLimits) *signInRig {
	t.Helper()
	hash, err := auth.HashPassword("a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	rig := &signInRig{now: time.Date(2025, 4, 2, 9, 0, 0, 0, time.UTC)}
	rig.f = &fakeStore{
		users: map[string]collector.User{
			"ana": {ID: 1, Name: "ana", Role: collector.RoleICBAnalyst, ICB: "QWE", PasswordHash: hash},
			"dis": {ID: 2, Name: "dis", Role: collector.RoleICBAnalyst, ICB: "QWE", PasswordHash: hash, Disabled: true},
			"tok": {ID: 3, Name: "tok", Role: collector.RoleAdmin}, // API tokens only
		},
		sessions: map[string]collector.Session{},
	}
	w := New(Options{Store: rig.f, SignIn: limits,
		Now: func() time.Time { rig.mu.Lock(); defer rig.mu.Unlock(); return rig.now },
		CheckPassword: func(encoded, password string) error {
			rig.mu.Lock()
			rig.calls = append(rig.calls, encoded)
			block := rig.block
			rig.mu.Unlock()
			if block != nil {
				<-block
			}
			return auth.CheckPassword(encoded, password)
		}})
	mux := http.NewServeMux()
	for _, r := range w.Routes() {
		mux.HandleFunc(r.Method+" "+r.Path, r.Handler)
	}
	rig.h = mux
	return rig
}

func (r *signInRig) advance(d time.Duration) { r.mu.Lock(); r.now = r.now.Add(d); r.mu.Unlock() }

func (r *signInRig) checks() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.calls) }

// signIn posts the sign-in form from addr (host:port).
func (r *signInRig) signIn(name, password, addr string) *httptest.ResponseRecorder {
	const tok = "form-token"
	form := url.Values{"name": {name}, "password": {password}, CSRFField: {tok}}
	req := httptest.NewRequest("POST", "/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: loginCookie, Value: tok})
	req.RemoteAddr = addr
	rec := httptest.NewRecorder()
	r.h.ServeHTTP(rec, req)
	return rec
}

// TestSignInSameWorkForEveryone: a sign-in costs one argon2id check with
// the parameters of real hashes whether the name is unknown, disabled,
// has only API tokens, or is a real user with a wrong or right password.
// Counted, not timed.
func TestSignInSameWorkForEveryone(t *testing.T) {
	rig := newSignInRig(t, SignInLimits{})
	for i, tc := range []struct {
		name, password string
		code           int
	}{
		{"nobody", "a long enough password", http.StatusUnauthorized},
		{"dis", "a long enough password", http.StatusUnauthorized},
		{"tok", "a long enough password", http.StatusUnauthorized},
		{"ana", "wrong password here", http.StatusUnauthorized},
		{"ana", "a long enough password", http.StatusSeeOther},
	} {
		before := rig.checks()
		rec := rig.signIn(tc.name, tc.password, "192.0.2.1:4000")
		if rec.Code != tc.code {
			t.Fatalf("%s: status %d, want %d", tc.name, rec.Code, tc.code)
		}
		if got := rig.checks() - before; got != 1 {
			t.Errorf("%s: %d password checks, want exactly 1", tc.name, got)
		}
		h := rig.calls[i]
		if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=1$") {
			t.Errorf("%s was checked against %q, not a hash with the real parameters", tc.name, h)
		}
		rig.advance(time.Minute)
	}
	if _, ok := rig.f.users["tok"]; !ok || len(rig.f.sessions) != 1 {
		t.Fatalf("sessions after one right password: %d", len(rig.f.sessions))
	}
}

// TestLockoutAfterRepeatedFailures: forty wrong passwords, waiting out
// every delay as a patient attacker would, then the right one: refused
// while the account is locked, no password checked, the lockout audited;
// accepted once it ends.
func TestLockoutAfterRepeatedFailures(t *testing.T) {
	rig := newSignInRig(t, SignInLimits{})
	const addr = "198.51.100.7:5000"
	delayed, locked := 0, 0
	for range 40 {
		rec := rig.signIn("ana", "wrong password here", addr)
		switch rec.Code {
		case http.StatusUnauthorized:
		case http.StatusTooManyRequests:
			secs, err := strconv.Atoi(rec.Header().Get("Retry-After"))
			if err != nil || secs < 1 {
				t.Fatalf("429 with Retry-After %q", rec.Header().Get("Retry-After"))
			}
			if strings.Contains(rec.Body.String(), "locked") {
				locked++
				continue // waiting 15 minutes is more than this attacker has
			}
			delayed++
			rig.advance(time.Duration(secs) * time.Second)
		default:
			t.Fatalf("wrong password: status %d", rec.Code)
		}
	}
	if got := rig.checks(); got != 10 {
		t.Fatalf("%d of 40 wrong passwords were checked, want 10 (then the lockout)", got)
	}
	if delayed == 0 || locked == 0 {
		t.Fatalf("delayed %d, locked %d: want growing delays, then a lockout", delayed, locked)
	}
	rec := rig.signIn("ana", "a long enough password", addr)
	if rec.Code != http.StatusTooManyRequests || len(rig.f.sessions) != 0 {
		t.Fatalf("the right password while locked: status %d, %d sessions; want 429 and none", rec.Code, len(rig.f.sessions))
	}
	// From another address too: the account is locked, not the address.
	if rec := rig.signIn("ana", "a long enough password", "203.0.113.9:1"); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("the right password from another address while locked: %d", rec.Code)
	}
	if got := rig.checks(); got != 10 {
		t.Fatalf("a locked account's password was checked (%d checks)", got)
	}
	if strings.Join(rig.f.audit, ";") != "login.lockout user:ana" {
		t.Fatalf("audit = %v, want one lockout of user:ana", rig.f.audit)
	}
	rig.advance(16 * time.Minute)
	if rec := rig.signIn("ana", "a long enough password", addr); rec.Code != http.StatusSeeOther {
		t.Fatalf("the right password after the lockout ended: %d", rec.Code)
	}
}

// TestUnknownNamesAreLockedToo: an unknown name is throttled and locked
// exactly as a real one, so lockouts do not tell which names exist.
func TestUnknownNamesAreLockedToo(t *testing.T) {
	rig := newSignInRig(t, SignInLimits{AccountLockoutAfter: 4})
	for _, name := range []string{"ana", "nobody"} {
		var codes []string
		for range 6 {
			rec := rig.signIn(name, "wrong password here", "192.0.2.50:1")
			codes = append(codes, strconv.Itoa(rec.Code))
			if s := rec.Header().Get("Retry-After"); s != "" && !strings.Contains(rec.Body.String(), "locked") {
				n, _ := strconv.Atoi(s)
				rig.advance(time.Duration(n) * time.Second)
			}
		}
		if got, want := strings.Join(codes, " "), "401 401 401 429 401 429"; got != want {
			t.Errorf("%s: statuses %s, want %s", name, got, want)
		}
		rig.advance(20 * time.Minute)
	}
}

// TestSignInPoolFull: with room for one password check, a second sign-in
// waits QueueWait, then gets 429 with Retry-After; it is not counted as a
// failure.
func TestSignInPoolFull(t *testing.T) {
	rig := newSignInRig(t, SignInLimits{MemoryBudget: 100 << 20, Procs: 8, QueueWait: 50 * time.Millisecond})
	rig.block = make(chan struct{})
	var first *httptest.ResponseRecorder
	done := make(chan struct{})
	go func() { defer close(done); first = rig.signIn("ana", "a long enough password", "192.0.2.1:1") }()
	for rig.checks() == 0 {
		time.Sleep(time.Millisecond)
	}
	rec := rig.signIn("nobody", "whatever it is", "192.0.2.2:1")
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "busy") {
		t.Fatalf("sign-in with the pool full: %d %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	close(rig.block)
	<-done
	if first.Code != http.StatusSeeOther {
		t.Fatalf("the first sign-in: %d", first.Code)
	}
	if got := rig.checks(); got != 1 {
		t.Fatalf("%d checks, want 1: the refused sign-in must not check", got)
	}
	if rig.f.lockouts != nil || rig.f.audit != nil {
		t.Fatal("a busy refusal was counted as a failure")
	}
}

func TestPoolSize(t *testing.T) {
	for _, tc := range []struct {
		budget int64
		procs  int
		want   int64
	}{{0, 8, 1}, {64 << 20, 8, 1}, {128 << 20, 8, 2}, {200 << 20, 8, 3}, {1 << 30, 64, 16}, {1 << 30, 8, 7}, {128 << 20, 4, 2}, {128 << 20, 3, 2}, {128 << 20, 2, 1}, {128 << 20, 1, 1}} {
		if got := PoolSize(tc.budget, tc.procs); got != tc.want {
			t.Errorf("PoolSize(%d MiB, %d processors) = %d, want %d", tc.budget>>20, tc.procs, got, tc.want)
		}
	}
	// A stored hash needing more memory than the whole budget takes all
	// of it, and still runs.
	p := newHashPool(64<<20, 8)
	release, ok := p.acquire(context.Background(), 512<<20, 1, time.Millisecond)
	if !ok {
		t.Fatal("a hash larger than the budget never runs")
	}
	if _, ok := p.acquire(context.Background(), 1<<20, 1, time.Millisecond); ok {
		t.Fatal("the pool let a second check in beside one that holds all of it")
	}
	release()

	// Processors bound it too: on three processors two one-lane checks
	// run at once, but a stored two-lane hash (made before checks took one
	// lane) takes both places, and waits for them.
	p = newHashPool(1<<30, 3)
	r1, ok1 := p.acquire(context.Background(), 64<<20, 1, time.Millisecond)
	r2, ok2 := p.acquire(context.Background(), 64<<20, 1, time.Millisecond)
	if !ok1 || !ok2 {
		t.Fatal("two one-lane checks on three processors did not both run")
	}
	if _, ok := p.acquire(context.Background(), 64<<20, 1, time.Millisecond); ok {
		t.Fatal("a third check ran, leaving no processor for the rest of the service")
	}
	r1()
	if _, ok := p.acquire(context.Background(), 64<<20, 2, time.Millisecond); ok {
		t.Fatal("a two-lane check ran with one processor free")
	}
	r2()
	r3, ok := p.acquire(context.Background(), 64<<20, 2, time.Millisecond)
	if !ok {
		t.Fatal("a two-lane check did not run with the pool free")
	}
	// Its memory came back when it could not get processors.
	if !p.mem.TryAcquire(p.total - 64) {
		t.Fatal("a refused check kept its memory")
	}
	r3()
}

func TestClientAddress(t *testing.T) {
	w := New(Options{Store: &fakeStore{}, SignIn: SignInLimits{ClientAddressHeader: "X-Forwarded-For"}})
	for _, tc := range []struct{ remote, fwd, want string }{
		{"192.0.2.1:4000", "", "address:192.0.2.1"},
		{"127.0.0.1:4000", "10.0.0.1, 203.0.113.5", "address:203.0.113.5"}, // the proxy's own, last entry
		{"192.0.2.1:4000", "203.0.113.5", "address:192.0.2.1"},             // not from the proxy: ignored
		{"[2001:db8:1:2:3:4:5:6]:443", "", "address:2001:db8:1:2::"},
		{"127.0.0.1:4000", "not an address", "address:127.0.0.1"},
	} {
		r := httptest.NewRequest("POST", "/login", nil)
		r.RemoteAddr = tc.remote
		if tc.fwd != "" {
			r.Header.Set("X-Forwarded-For", tc.fwd)
		}
		if got := w.clientAddress(r); got != tc.want {
			t.Errorf("clientAddress(%s, %q) = %s, want %s", tc.remote, tc.fwd, got, tc.want)
		}
	}
}

// TestThrottleRemembersABoundedNumber: a flood of names cannot grow the
// throttle's memory past MaxTracked.
func TestThrottleRemembersABoundedNumber(t *testing.T) {
	th := newThrottle(SignInLimits{MaxTracked: 100}.withDefaults())
	now := time.Now()
	var locks atomic.Int64
	for i := range 5000 {
		if _, lock := th.fail(now.Add(time.Duration(i)*time.Millisecond), "user:n"+strconv.Itoa(i), 10); lock {
			locks.Add(1)
		}
	}
	if n := len(th.entries); n > 100 {
		t.Fatalf("the throttle remembers %d names, want at most 100", n)
	}
	if locks.Load() != 0 {
		t.Fatal("single failures locked names")
	}
	if got := delay(3, 3); got != time.Second {
		t.Fatalf("delay after the free failures = %s, want 1s", got)
	}
	if got := delay(5, 3); got != 4*time.Second {
		t.Fatalf("delay(5, 3) = %s, want 4s", got)
	}
	if got := delay(40, 3); got != time.Minute {
		t.Fatalf("delay(40, 3) = %s, want the 1 min cap", got)
	}
}
