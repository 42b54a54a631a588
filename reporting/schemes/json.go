package schemes

import (
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends r as encoding/json encodes it, byte for byte (the
// tests hold it to that, every field set and unset), without reflection:
// the collector stores every period's reconciliation, about 6 MB of JSON
// for 6,500 practices, and encoding/json took a fifth of the time of
// calculating two years of periods from nothing.
//
// A field added to any of these types must be added here; the tests fail
// until it is.
func (r *Reconciliation) AppendJSON(b []byte) ([]byte, error) {
	return r.appendJSON(b, nil)
}

// AppendJSONSpans is AppendJSON that also says where in the returned
// bytes each of r.Practices is: spans[i] holds the start and end offsets
// of the i-th practice's object, so that it can be stored on its own
// without being encoded twice.
func (r *Reconciliation) AppendJSONSpans(b []byte) ([]byte, [][2]int, error) {
	spans := make([][2]int, 0, len(r.Practices))
	b, err := r.appendJSON(b, &spans)
	return b, spans, err
}

func (r *Reconciliation) appendJSON(b []byte, spans *[][2]int) ([]byte, error) {
	var err error
	b = append(b, `{"Scheme":`...)
	b = appendString(b, r.Scheme)
	b = append(b, `,"Title":`...)
	b = appendString(b, r.Title)
	b = append(b, `,"ICB":`...)
	b = appendString(b, r.ICB)
	b = append(b, `,"Period":`...)
	b = appendString(b, r.Period)
	b = append(b, `,"AsOf":`...)
	b = appendString(b, r.AsOf)
	b = append(b, `,"Deadline":`...)
	if b, err = appendTime(b, r.Deadline); err != nil {
		return nil, err
	}
	b = append(b, `,"Final":`...)
	b = strconv.AppendBool(b, r.Final)
	b = append(b, `,"Practices":`...)
	if r.Practices == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range r.Practices {
			if i > 0 {
				b = append(b, ',')
			}
			start := len(b)
			if b, err = r.Practices[i].appendJSON(b); err != nil {
				return nil, err
			}
			if spans != nil {
				*spans = append(*spans, [2]int{start, len(b)})
			}
		}
		b = append(b, ']')
	}
	b = append(b, `,"Missing":`...)
	b = appendStrings(b, r.Missing)
	b = append(b, `,"Late":`...)
	b = appendStrings(b, r.Late)
	b = append(b, `,"WrongPack":`...)
	b = appendStrings(b, r.WrongPack)
	b = append(b, `,"NotEnrolled":`...)
	b = appendStrings(b, r.NotEnrolled)
	b = append(b, `,"Summary":`...)
	b = r.Summary.appendJSON(b)
	return append(b, '}'), nil
}

// object writes the members of a JSON object whose fields may be left
// out (omitempty, omitzero): the comma goes before every member but the
// first written.
type object struct {
	b     []byte
	wrote bool
}

func (o *object) key(name string) {
	if o.wrote {
		o.b = append(o.b, ',')
	}
	o.wrote = true
	o.b = append(o.b, '"')
	o.b = append(o.b, name...)
	o.b = append(o.b, `":`...)
}

func (o *object) str(name, v string) {
	if v != "" {
		o.key(name)
		o.b = appendString(o.b, v)
	}
}

func (o *object) flag(name string, v bool) {
	if v {
		o.key(name)
		o.b = append(o.b, "true"...)
	}
}

func (o *object) int(name string, v int64) {
	if v != 0 {
		o.key(name)
		o.b = strconv.AppendInt(o.b, v, 10)
	}
}

func (o *object) intPtr(name string, v *int64) {
	if v != nil {
		o.key(name)
		o.b = strconv.AppendInt(o.b, *v, 10)
	}
}

func (o *object) fixedPtr(name string, v *Fixed) {
	if v != nil {
		o.key(name)
		o.b = strconv.AppendInt(o.b, int64(*v), 10)
	}
}

func (p *PracticeResult) appendJSON(b []byte) ([]byte, error) {
	o := object{b: append(b, '{')}
	o.str("ODS", p.ODS)
	o.str("Name", p.Name)
	o.str("SubmissionID", p.SubmissionID)
	if !p.ReceivedAt.IsZero() {
		o.key("ReceivedAt")
		var err error
		if o.b, err = appendTime(o.b, p.ReceivedAt); err != nil {
			return nil, err
		}
	}
	o.str("PackVersion", p.PackVersion)
	o.flag("Missing", p.Missing)
	o.flag("Late", p.Late)
	o.flag("WrongPack", p.WrongPack)
	if p.Gateway.Pass || p.Gateway.Checks != nil { // omitzero
		o.key("Gateway")
		g := object{b: append(o.b, '{')}
		g.flag("Pass", p.Gateway.Pass)
		if len(p.Gateway.Checks) > 0 {
			g.key("Checks")
			g.b = append(g.b, '[')
			for i, c := range p.Gateway.Checks {
				if i > 0 {
					g.b = append(g.b, ',')
				}
				ch := object{b: append(g.b, '{')}
				ch.str("ID", c.ID)
				ch.flag("Pass", c.Pass)
				ch.str("Reason", c.Reason)
				g.b = append(ch.b, '}')
			}
			g.b = append(g.b, ']')
		}
		o.b = append(g.b, '}')
	}
	if len(p.Elements) > 0 {
		o.key("Elements")
		o.b = append(o.b, '[')
		for i := range p.Elements {
			if i > 0 {
				o.b = append(o.b, ',')
			}
			o.b = p.Elements[i].appendJSON(o.b)
		}
		o.b = append(o.b, ']')
	}
	o.flag("PracticeCapApplied", p.PracticeCapApplied)
	o.int("TotalPence", p.TotalPence)
	o.int("IndicativePence", p.IndicativePence)
	o.str("State", string(p.State))
	return append(o.b, '}'), nil
}

func (e *ElementResult) appendJSON(b []byte) []byte {
	o := object{b: append(b, '{')}
	o.str("ID", e.ID)
	o.str("Type", string(e.Type))
	o.flag("Payable", e.Payable)
	o.intPtr("A", e.A)
	o.intPtr("B", e.B)
	o.intPtr("C", e.C)
	o.intPtr("ListSize", e.ListSize)
	o.fixedPtr("Achievement", e.Achievement)
	o.fixedPtr("Points", e.Points)
	o.int("Tier", int64(e.Tier))
	o.int("CalculatedPence", e.CalculatedPence)
	o.flag("ElementCapApplied", e.ElementCapApplied)
	o.flag("PracticeCapApplied", e.PracticeCapApplied)
	o.int("AmountPence", e.AmountPence)
	o.str("Note", e.Note)
	return append(o.b, '}')
}

func (s *Summary) appendJSON(b []byte) []byte {
	for _, f := range []struct {
		name string
		v    int64
	}{{`{"Enrolled":`, int64(s.Enrolled)}, {`,"WithFigures":`, int64(s.WithFigures)}, {`,"Missing":`, int64(s.Missing)},
		{`,"Late":`, int64(s.Late)}, {`,"WrongPack":`, int64(s.WrongPack)}, {`,"NotEnrolled":`, int64(s.NotEnrolled)},
		{`,"GatewayFailed":`, int64(s.GatewayFailed)}, {`,"PayablePence":`, s.PayablePence},
		{`,"IndicativePence":`, s.IndicativePence}} {
		b = append(b, f.name...)
		b = strconv.AppendInt(b, f.v, 10)
	}
	b = append(b, `,"Elements":`...)
	if s.Elements == nil {
		return append(b, "null}"...)
	}
	b = append(b, '[')
	for i, e := range s.Elements {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"ID":`...)
		b = appendString(b, e.ID)
		b = append(b, `,"Practices":`...)
		b = strconv.AppendInt(b, int64(e.Practices), 10)
		b = append(b, `,"PayablePence":`...)
		b = strconv.AppendInt(b, e.PayablePence, 10)
		b = append(b, `,"IndicativePence":`...)
		b = strconv.AppendInt(b, e.IndicativePence, 10)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

func appendStrings(b []byte, list []string) []byte {
	if list == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// appendTime encodes t as time.Time's MarshalJSON does: RFC 3339 with
// nanoseconds, quoted, refusing what RFC 3339 cannot write.
func appendTime(b []byte, t time.Time) ([]byte, error) {
	b, err := t.AppendText(append(b, '"'))
	if err != nil {
		return nil, fmt.Errorf("json: %w", err)
	}
	return append(b, '"'), nil
}

const hex = "0123456789abcdef"

// appendString quotes s as encoding/json does by default: <, > and & and
// the line and paragraph separators escaped, invalid UTF-8 replaced.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
