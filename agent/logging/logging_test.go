package logging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kservice "github.com/kardianos/service"
)

// The Windows Event Log logger of kardianos/service is a Sink.
var _ Sink = kservice.Logger(nil)

type entry struct{ kind, text string }

// recorder is a Sink that keeps what it is given. It has no lock of its
// own, so the race detector reports any caller that writes to it from two
// goroutines at once; inside tracks overlapping calls for the same reason.
type recorder struct {
	entries []entry
	inside  atomic.Int32
	overlap atomic.Bool
	fail    error
}

func (r *recorder) add(kind string, v []any) error {
	if r.inside.Add(1) > 1 {
		r.overlap.Store(true)
	}
	defer r.inside.Add(-1)
	r.entries = append(r.entries, entry{kind, fmt.Sprint(v...)})
	return r.fail
}

func (r *recorder) Error(v ...any) error   { return r.add("error", v) }
func (r *recorder) Warning(v ...any) error { return r.add("warning", v) }
func (r *recorder) Info(v ...any) error    { return r.add("info", v) }

func TestLevelsMapToEventTypes(t *testing.T) {
	rec := &recorder{}
	log := slog.New(NewHandler(rec, &Options{Level: slog.LevelDebug}))
	log.Debug("d")
	log.Info("i")
	log.Warn("w")
	log.Error("e")
	log.Log(context.Background(), slog.LevelWarn+2, "w2")
	log.Log(context.Background(), slog.LevelError+4, "e4")
	log.Log(context.Background(), slog.LevelInfo+2, "i2")
	var got []string
	for _, e := range rec.entries {
		got = append(got, e.kind+":"+e.text)
	}
	want := "info:d info:i warning:w error:e warning:w2 error:e4 info:i2"
	if g := strings.Join(got, " "); g != want {
		t.Fatalf("entries = %s, want %s", g, want)
	}
}

func TestMinimumLevel(t *testing.T) {
	rec := &recorder{}
	log := slog.New(NewHandler(rec, nil)) // default: info
	log.Debug("hidden")
	log.Info("shown")
	if len(rec.entries) != 1 || rec.entries[0].text != "shown" {
		t.Fatalf("default level: entries = %v, want only the info record", rec.entries)
	}

	rec = &recorder{}
	var lv slog.LevelVar
	lv.Set(slog.LevelWarn)
	log = slog.New(NewHandler(rec, &Options{Level: &lv}))
	log.Info("hidden")
	log.Warn("shown")
	lv.Set(slog.LevelError)
	log.Warn("hidden too")
	log.Error("shown too")
	if got := fmt.Sprint(rec.entries); got != "[{warning shown} {error shown too}]" {
		t.Fatalf("level warn then error: entries = %s", got)
	}
	if log.Enabled(context.Background(), slog.LevelWarn) {
		t.Error("Enabled(warn) with the minimum at error")
	}
}

type secretish struct{ id int }

func (s secretish) LogValue() slog.Value { return slog.StringValue(fmt.Sprintf("submission-%d", s.id)) }

func TestRendersMessageAttributesAndGroups(t *testing.T) {
	at := time.Date(2025, 4, 5, 2, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		log  func(*slog.Logger)
		want string
	}{
		{"message only", func(l *slog.Logger) { l.Info("agent started") }, "agent started"},
		{"key=value", func(l *slog.Logger) { l.Info("queued", "as_of", "2025-03-31", "measures", 12, "ok", true) },
			"queued as_of=2025-03-31 measures=12 ok=true"},
		{"quoting", func(l *slog.Logger) {
			l.Info("m", "path", `C:\ProgramData\Steward`, "spaced", `C:\Program Files\Steward`, "text", "two words",
				"empty", "", "eq", "a=b", "quote", `say "hi"`)
		}, `m path=C:\ProgramData\Steward spaced="C:\\Program Files\\Steward" text="two words" empty="" eq="a=b" quote="say \"hi\""`},
		{"error, duration, time, LogValuer", func(l *slog.Logger) {
			l.Warn("delivery failed", "error", errors.New("connection refused"), "took", 1500*time.Millisecond,
				"at", at, "item", secretish{7})
		}, `delivery failed error="connection refused" took=1.5s at=2025-04-05T02:00:00Z item=submission-7`},
		{"inline group", func(l *slog.Logger) { l.Info("m", slog.Group("db", "profile", "tpp", "rows", 3)) },
			"m db.profile=tpp db.rows=3"},
		{"nested group", func(l *slog.Logger) { l.Info("m", slog.Group("a", slog.Group("b", "c", 1))) }, "m a.b.c=1"},
		{"empty group omitted", func(l *slog.Logger) { l.Info("m", slog.Group("none"), "x", 1) }, "m x=1"},
		{"empty-key group inlined", func(l *slog.Logger) { l.Info("m", slog.Group("", "x", 1)) }, "m x=1"},
		{"zero attr ignored", func(l *slog.Logger) { l.Info("m", slog.Attr{}, "x", 1) }, "m x=1"},
		{"WithAttrs", func(l *slog.Logger) { l.With("practice", "Y01234").Info("m", "x", 1) }, "m practice=Y01234 x=1"},
		{"WithGroup", func(l *slog.Logger) { l.WithGroup("run").Info("m", "as_of", "2025-03-31") }, "m run.as_of=2025-03-31"},
		{"WithAttrs then WithGroup", func(l *slog.Logger) {
			l.With("practice", "Y01234").WithGroup("run").With("pack", "medsip").Info("m", "rows", 4)
		}, "m practice=Y01234 run.pack=medsip run.rows=4"},
		{"WithGroup and no attributes", func(l *slog.Logger) { l.WithGroup("run").Info("m") }, "m"},
		{"empty WithGroup name", func(l *slog.Logger) { l.WithGroup("").Info("m", "x", 1) }, "m x=1"},
		{"multi-line message kept", func(l *slog.Logger) { l.Error("cannot start:\nagent.yaml:2:11: bad") },
			"cannot start:\nagent.yaml:2:11: bad"},
		{"newline in a value quoted", func(l *slog.Logger) { l.Info("m", "v", "a\nb") }, `m v="a\nb"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := &recorder{}
			c.log(slog.New(NewHandler(rec, nil)))
			if len(rec.entries) != 1 {
				t.Fatalf("%d entries, want 1: %v", len(rec.entries), rec.entries)
			}
			if got := rec.entries[0].text; got != c.want {
				t.Errorf("entry = %q\n want   %q", got, c.want)
			}
		})
	}
}

func TestDerivedHandlersDoNotShareAttributes(t *testing.T) {
	rec := &recorder{}
	base := slog.New(NewHandler(rec, nil))
	a := base.With("who", "a")
	b := base.With("who", "b")
	g := a.WithGroup("g")
	base.Info("base")
	a.Info("a")
	b.Info("b")
	g.Info("g", "x", 1)
	a.Info("a again")
	if got, want := fmt.Sprint(rec.entries), "[{info base} {info a who=a} {info b who=b} {info g who=a g.x=1} {info a again who=a}]"; got != want {
		t.Fatalf("entries = %s\nwant %s", got, want)
	}
}

func TestConcurrentUseIsSerialised(t *testing.T) {
	rec := &recorder{}
	base := slog.New(NewHandler(rec, nil))
	const goroutines, each = 16, 50
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := base.With("goroutine", g)
			if g%2 == 0 {
				l = l.WithGroup("even")
			}
			for i := range each {
				l.Info("tick", "i", i)
			}
		}()
	}
	wg.Wait()
	if rec.overlap.Load() {
		t.Error("the sink was called from two goroutines at once")
	}
	if got, want := len(rec.entries), goroutines*each; got != want {
		t.Fatalf("%d entries, want %d", got, want)
	}
}

func TestSinkErrorIsReturned(t *testing.T) {
	rec := &recorder{fail: errors.New("event log is full")}
	h := NewHandler(rec, nil)
	err := h.Handle(context.Background(), slog.NewRecord(time.Now(), slog.LevelInfo, "m", 0))
	if err == nil || !strings.Contains(err.Error(), "event log is full") {
		t.Fatalf("Handle = %v, want the sink's error", err)
	}
}

func TestCleanMakesTextSafeForTheEventLog(t *testing.T) {
	rec := &recorder{}
	slog.New(NewHandler(rec, nil)).Info("nul\x00here", "bad", "\xff")
	if got, want := rec.entries[0].text, "nul\\x00here bad=\uFFFD"; got != want {
		t.Errorf("entry = %q, want %q", got, want)
	}
	long := strings.Repeat("é", MaxEntry) // 2 bytes each
	got := Clean(long)
	if len(got) > MaxEntry {
		t.Fatalf("cleaned entry is %d bytes, want at most %d", len(got), MaxEntry)
	}
	if !strings.HasSuffix(got, "too long for the Event Log)") || !strings.HasPrefix(got, "éé") {
		t.Errorf("cut entry ends %q", got[len(got)-60:])
	}
	if s := strings.TrimSuffix(got, " …(cut: the entry is too long for the Event Log)"); strings.Trim(s, "é") != "" {
		t.Errorf("cut in the middle of a character: %q", s[len(s)-4:])
	}
	if Clean("short") != "short" {
		t.Error("Clean changed a clean short text")
	}
}
