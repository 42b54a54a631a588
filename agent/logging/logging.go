// Package logging sends the agent's log/slog records to a service
// manager's own log. On Windows that is the Event Log, reached through
// kardianos/service's Logger (Windows Logs › Application, source
// steward-agent); under systemd the agent keeps writing to stderr, which
// journald already collects.
//
// The Event Log keeps the time, the level and the source of each entry
// itself, so a record becomes one entry holding the message and its
// attributes as key=value pairs.
package logging

import (
	"context"
	"encoding"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Sink is the part of kardianos/service's Logger that a Handler writes to;
// the Windows Event Log logger implements it.
type Sink interface {
	Error(v ...any) error
	Warning(v ...any) error
	Info(v ...any) error
}

// MaxEntry bounds the text of one entry in bytes. An Event Log message
// holds at most 31,839 characters; a longer record is cut, saying so.
const MaxEntry = 31000

// Options configure a Handler.
type Options struct {
	// Level is the minimum level written (default slog.LevelInfo).
	Level slog.Leveler
}

// Handler is an slog.Handler writing each record as one entry to a Sink:
// Debug and Info as information, Warn as a warning, Error as an error. It
// is safe for concurrent use: entries are written one at a time.
type Handler struct {
	sink  Sink
	level slog.Leveler
	mu    *sync.Mutex
	// attrs is the text of the attributes added with WithAttrs, already
	// rendered; prefix is the group path (dotted, with a trailing dot)
	// that WithGroup opened for later attributes.
	attrs  string
	prefix string
}

var _ slog.Handler = (*Handler)(nil)

// NewHandler returns a handler writing to s.
func NewHandler(s Sink, o *Options) *Handler {
	h := &Handler{sink: s, level: slog.LevelInfo, mu: &sync.Mutex{}}
	if o != nil && o.Level != nil {
		h.level = o.Level
	}
	return h
}

// Enabled reports whether records at level are written.
func (h *Handler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= h.level.Level()
}

// WithAttrs returns a handler that adds attrs to every record.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.attrs)
	for _, a := range attrs {
		appendAttr(&b, h.prefix, a)
	}
	if b.Len() == len(h.attrs) {
		return h
	}
	h2 := *h
	h2.attrs = b.String()
	return &h2
}

// WithGroup returns a handler that puts later attributes in group name.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.prefix = h.prefix + name + "."
	return &h2
}

// Handle writes r as one entry.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		appendAttr(&b, h.prefix, a)
		return true
	})
	text := Clean(b.String())
	h.mu.Lock()
	defer h.mu.Unlock()
	var err error
	switch {
	case r.Level >= slog.LevelError:
		err = h.sink.Error(text)
	case r.Level >= slog.LevelWarn:
		err = h.sink.Warning(text)
	default:
		err = h.sink.Info(text)
	}
	if err != nil {
		return fmt.Errorf("write to the service log: %w", err)
	}
	return nil
}

// Clean makes text safe for the Event Log: a NUL character (which the
// Windows API cannot carry, and the library panics on) is written as \x00,
// invalid UTF-8 is replaced, and text beyond MaxEntry is cut.
func Clean(text string) string {
	text = strings.ToValidUTF8(text, "\uFFFD")
	text = strings.ReplaceAll(text, "\x00", `\x00`)
	if len(text) <= MaxEntry {
		return text
	}
	const cut = " …(cut: the entry is too long for the Event Log)"
	n := MaxEntry - len(cut)
	for n > 0 && !utf8.RuneStart(text[n]) {
		n--
	}
	return text[:n] + cut
}

// appendAttr writes " key=value" for a, with prefix before the key; a group
// writes each of its attributes with the group's name added to the prefix.
func appendAttr(b *strings.Builder, prefix string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p = prefix + a.Key + "."
		}
		for _, g := range a.Value.Group() {
			appendAttr(b, p, g)
		}
		return
	}
	b.WriteByte(' ')
	b.WriteString(quote(prefix + a.Key))
	b.WriteByte('=')
	b.WriteString(quote(valueText(a.Value)))
}

func valueText(v slog.Value) string {
	switch v.Kind() {
	case slog.KindTime:
		return v.Time().Format(time.RFC3339Nano)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return x.Error()
		case encoding.TextMarshaler:
			t, err := x.MarshalText()
			if err != nil {
				return "!ERROR:" + err.Error()
			}
			return string(t)
		case []byte:
			return string(x)
		}
	}
	return v.String()
}

// quote quotes s as Go would when it is empty or holds a space, a quote, an
// equals sign or a character that is not printable, so key=value pairs
// always read back unambiguously. A backslash alone does not need quotes
// (as in slog's text format): a Windows path stays readable.
func quote(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if r == '=' || r == '"' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
