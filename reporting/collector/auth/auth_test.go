package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestPasswordRoundTrip(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Fatalf("hash %q does not carry its parameters", h)
	}
	if err := CheckPassword(h, "correct horse battery"); err != nil {
		t.Fatalf("CheckPassword(right) = %v", err)
	}
	if err := CheckPassword(h, "correct horse battery!"); !errors.Is(err, ErrMismatch) {
		t.Fatalf("CheckPassword(wrong) = %v, want ErrMismatch", err)
	}
	h2, _ := HashPassword("correct horse battery")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
	if _, err := HashPassword("short"); err == nil {
		t.Fatal("HashPassword accepted a short password")
	}
}

func TestEnrolmentCode(t *testing.T) {
	c, err := NewEnrolmentCode()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(NormaliseEnrolmentCode(c)), 32; got != want {
		t.Fatalf("code %q has %d characters, want %d", c, got, want)
	}
	typed := strings.ToLower(strings.ReplaceAll(c, "-", " "))
	if HashEnrolmentCode(typed) != HashEnrolmentCode(c) {
		t.Fatal("a code typed in lower case with spaces hashes differently")
	}
	c2, _ := NewEnrolmentCode()
	if c == c2 {
		t.Fatal("two codes are equal")
	}
}
