package compile

import (
	"testing"

	"github.com/nhs-steward/steward/searches/model"
)

// TestToValueCode: a code comes back from a driver as text, bytes or (a
// layout whose codes are integers) a number; NULL is no code; anything
// else is an error naming its type, not a code made up.
func TestToValueCode(t *testing.T) {
	for _, c := range []struct {
		in   any
		want string
		ok   bool
	}{
		{"36126511000001106", "36126511000001106", true},
		{[]byte("1001"), "1001", true},
		{int64(36131011000001107), "36131011000001107", true},
		{nil, "", true},
	} {
		v, err := toValue(model.Text, c.in)
		if err != nil || v.Text != c.want || v.Valid != (c.in != nil) {
			t.Errorf("toValue(%#v) = %+v, %v; want %q", c.in, v, err, c.want)
		}
	}
	if _, err := toValue(model.Text, 1.5); err == nil {
		t.Error("a float was taken as a code")
	}
}
