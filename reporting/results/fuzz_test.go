package results

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

// FuzzDecode feeds Decode arbitrary bytes, as the collector does with every
// signed submission. Seeds: testdata/fuzz/FuzzDecode (a document steward
// run printed, compact and indented, and broken ones).
//
// Properties: Decode fails with ErrInvalid or ErrPatientLevel, or it
// returns a document that
//   - came from exactly one JSON value (nothing before or after it),
//   - passes Validate,
//   - carries no patient-level key (parameters are its only free keys),
//   - re-encoded, decodes again to a document that encodes the same.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(good))
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := Decode(bytes.NewReader(body))
		if err != nil {
			if d != nil {
				t.Fatalf("Decode returned a document and the error %v", err)
			}
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrPatientLevel) {
				t.Fatalf("Decode error %v wraps neither ErrInvalid nor ErrPatientLevel", err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("Decode accepted %q, which is not exactly one JSON value", body)
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("Decode accepted a document Validate refuses: %v", err)
		}
		for k := range d.Parameters {
			if slices.Contains(patientLevelNames, strings.ToLower(k)) {
				t.Fatalf("Decode accepted a document holding the patient-level key %q", k)
			}
		}
		once, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("encode the accepted document: %v", err)
		}
		d2, err := Decode(bytes.NewReader(once))
		if err != nil {
			t.Fatalf("the accepted document, re-encoded, is refused: %v\n%s", err, once)
		}
		twice, err := json.Marshal(d2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(once, twice) {
			t.Fatalf("decode and encode do not settle:\n%s\n%s", once, twice)
		}
	})
}
