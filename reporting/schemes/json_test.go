package schemes

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// sameAsEncodingJSON fails unless AppendJSON writes what json.Marshal
// writes for rec, appended to a prefix it must keep.
func sameAsEncodingJSON(t *testing.T, name string, rec *Reconciliation) {
	t.Helper()
	want, wantErr := json.Marshal(rec)
	got, gotErr := rec.AppendJSON([]byte("prefix"))
	if (wantErr != nil) != (gotErr != nil) {
		t.Fatalf("%s: AppendJSON error %v, encoding/json error %v", name, gotErr, wantErr)
	}
	if wantErr != nil {
		return
	}
	if !bytes.HasPrefix(got, []byte("prefix")) {
		t.Fatalf("%s: AppendJSON lost what it appended to", name)
	}
	if got = got[len("prefix"):]; !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("%s: AppendJSON differs from encoding/json at byte %d:\n got %s\nwant %s", name, i,
			got[max(0, i-80):min(len(got), i+80)], want[max(0, i-80):min(len(want), i+80)])
	}
}

func TestAppendJSONEvaluated(t *testing.T) {
	example, err := Load("../../schemes/medsip-local-example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bench, err := Load("../../testdata/schemes/bench-scheme.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		scheme  *Scheme
		period  string
		figures []PracticeFigures
	}{
		{example, "2027-03", exampleFigures()}, // final period, caps, a late and a missing practice
		{example, "2026-06", exampleFigures()}, // not final: indicative amounts, wrong as-of dates
		{example, "2027-03", nil},
		{bench, "2025-04", nil},
	} {
		rec, err := Evaluate(tc.scheme, tc.period, tc.figures)
		if err != nil {
			t.Fatal(err)
		}
		sameAsEncodingJSON(t, tc.scheme.ID+" "+tc.period, rec)
		stateless := *rec
		stateless.Practices = nil
		sameAsEncodingJSON(t, tc.scheme.ID+" "+tc.period+" without practices", &stateless)
	}
	sameAsEncodingJSON(t, "zero", &Reconciliation{})
}

// TestAppendJSONEveryField sets every field of every type a
// reconciliation holds, found by reflection, each at random either to its
// zero value, an empty slice or a value, so that a field added to any of
// them and not to AppendJSON fails here.
func TestAppendJSONEveryField(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		var rec Reconciliation
		fillRandom(reflect.ValueOf(&rec).Elem(), r, i == 0)
		sameAsEncodingJSON(t, "random "+string(rune('A'+i%26)), &rec)
	}
}

// awkward are strings encoding/json escapes or replaces.
var awkward = []string{"", "Practice <1> & Co", `a "quoted\" name`, "tab\there\nnew\rline\b\f\x00\x1f\x7f",
	"Llanfair\u2028PG\u2029", "caf\xc3\xa9 \xff\xfe bad", "\xe2\x80", "Ysbyty Gwynedd – Bangor ✓", "\U0001F48A"}

var timeType = reflect.TypeFor[time.Time]()

// fillRandom fills v; all sets every field (the first case).
func fillRandom(v reflect.Value, r *rand.Rand, all bool) {
	if v.Type() == timeType {
		times := []time.Time{{}, time.Date(2027, 4, 11, 9, 0, 0, 0, time.UTC),
			time.Date(2026, 3, 29, 1, 30, 0, 123456789, time.FixedZone("BST", 3600)),
			time.Date(2025, 5, 3, 0, 0, 0, 1000, time.UTC)}
		if all {
			v.Set(reflect.ValueOf(times[1]))
		} else {
			v.Set(reflect.ValueOf(times[r.IntN(len(times))]))
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if all || r.IntN(3) > 0 {
				fillRandom(v.Field(i), r, all)
			}
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillRandom(v.Elem(), r, all)
	case reflect.Slice:
		n := 1 + r.IntN(3)
		if !all && r.IntN(4) == 0 {
			n = 0 // empty, not nil: encoded as [] or left out
		}
		v.Set(reflect.MakeSlice(v.Type(), n, n))
		for i := range n {
			fillRandom(v.Index(i), r, all)
		}
	case reflect.String:
		s := awkward[1+r.IntN(len(awkward)-1)]
		if !all && r.IntN(4) == 0 {
			s = ""
		}
		v.SetString(s)
	case reflect.Bool:
		v.SetBool(all || r.IntN(2) == 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n := []int64{0, 1, -1, 42, 1 << 40, -9_223_372_036_854_775_808}[r.IntN(6)]
		if all && n == 0 {
			n = 7
		}
		v.SetInt(n)
	default:
		// A kind AppendJSON does not write yet: set it so the comparison
		// shows the field, and the encoder has to learn it.
		v.Set(reflect.ValueOf(1.5).Convert(v.Type()))
	}
}

func TestAppendJSONTimes(t *testing.T) {
	for _, tm := range []time.Time{{}, time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("odd", 24*3600+60))} {
		sameAsEncodingJSON(t, "deadline "+tm.String(), &Reconciliation{Deadline: tm})
		sameAsEncodingJSON(t, "received "+tm.String(), &Reconciliation{Practices: []PracticeResult{{ReceivedAt: tm}}})
	}
	if _, err := (&Reconciliation{Deadline: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}).AppendJSON(nil); err == nil {
		t.Fatal("a year past 9999 encoded without an error")
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range awkward {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
		}
	})
}

func BenchmarkAppendJSON(b *testing.B) {
	rec := benchReconciliation(b)
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(rec); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendJSON", func(b *testing.B) {
		buf := make([]byte, 0, 8<<20)
		for b.Loop() {
			if _, err := rec.AppendJSON(buf[:0]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestAppendJSONSpans: each span holds exactly its practice's object, as
// encoding/json encodes that practice alone, and the bytes are
// AppendJSON's.
func TestAppendJSONSpans(t *testing.T) {
	example, err := Load("../../schemes/medsip-local-example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := Evaluate(example, "2027-03", exampleFigures())
	if err != nil {
		t.Fatal(err)
	}
	whole, err := rec.AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	got, spans, err := rec.AppendJSONSpans([]byte("prefix"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got[len("prefix"):]) != string(whole) {
		t.Fatal("AppendJSONSpans's bytes differ from AppendJSON's")
	}
	if len(spans) != len(rec.Practices) || len(spans) < 2 {
		t.Fatalf("%d spans for %d practices", len(spans), len(rec.Practices))
	}
	for i, sp := range spans {
		want, err := json.Marshal(rec.Practices[i])
		if err != nil {
			t.Fatal(err)
		}
		if part := got[sp[0]:sp[1]]; string(part) != string(want) {
			t.Fatalf("span %d = %s\nwant %s", i, part, want)
		}
	}
}
