package auth

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

func TestPasswordRoundTrip(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=1$") {
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

func TestPasswordPolicy(t *testing.T) {
	for _, tc := range []struct {
		name, password string
		ok             bool
	}{
		{"ana", "password1234", false},                 // on the list as it is
		{"ana", "Password1234!", false},                // a listed word with digits and symbols added
		{"ana", "!!sunshine2024", false},               // the same at the front
		{"ana", "12345678901", false},                  // 11 characters
		{"ana", "ééééééééééé", false},                  // 11 runes, 22 bytes
		{"ana", "éàüöñçøåßœæ€", true},                  // 12 runes
		{"ana", "日本語のとても長い合言葉です", true},                // 14 runes of 3 bytes
		{"margaret", "xMARGARETx-horse-staple", false}, // contains the name, any case
		{"al", "almond-kettle-river", true},            // names under 3 characters are not looked for
		{"ana", "correct horse battery", true},
		{"ana", "a long enough password", true},
	} {
		err := CheckPasswordPolicy(tc.name, tc.password)
		if (err == nil) != tc.ok {
			t.Errorf("CheckPasswordPolicy(%q, %q) = %v, want ok=%t", tc.name, tc.password, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrWeakPassword) {
			t.Errorf("CheckPasswordPolicy(%q) = %v, not ErrWeakPassword", tc.password, err)
		}
	}
	if !IsCommonPassword("QWERTY") || IsCommonPassword("zebra-mango-violin-quartz") {
		t.Fatal("IsCommonPassword does not follow the list")
	}
	if n := len(commonPasswords()); n < 9900 {
		t.Fatalf("the embedded list has %d distinct entries, want about 10,000", n)
	}
}

func TestHashMemory(t *testing.T) {
	if got, want := MemoryOf(DummyHash()), int64(HashMemoryBytes); got != want {
		t.Fatalf("MemoryOf(DummyHash()) = %d, want %d", got, want)
	}
	if got := MemoryOf("$argon2id$v=19$m=262144,t=3,p=2$c2FsdA$aGFzaA"); got != 256<<20 {
		t.Fatalf("MemoryOf(m=262144) = %d, want 256 MiB", got)
	}
	if got := MemoryOf("not a hash"); got != HashMemoryBytes {
		t.Fatalf("MemoryOf(junk) = %d", got)
	}
	if first, second := DummyHash(), DummyHash(); first != second {
		t.Fatal("DummyHash changes between calls")
	}
}

// TestTwoLaneHashesStillCheck: hashes made before new hashes took one lane
// (p=2) still check, and CostOf tells the sign-in pool they need two
// processors.
func TestTwoLaneHashesStillCheck(t *testing.T) {
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte("correct horse battery"), salt, 3, 64*1024, 2, 32)
	b64 := base64.RawStdEncoding
	old := "$argon2id$v=19$m=65536,t=3,p=2$" + b64.EncodeToString(salt) + "$" + b64.EncodeToString(key)
	if err := CheckPassword(old, "correct horse battery"); err != nil {
		t.Fatalf("a two-lane hash no longer checks: %v", err)
	}
	if err := CheckPassword(old, "correct horse batteries"); !errors.Is(err, ErrMismatch) {
		t.Fatalf("a two-lane hash with the wrong password: %v", err)
	}
	if mem, lanes := CostOf(old); mem != 64<<20 || lanes != 2 {
		t.Fatalf("CostOf(two-lane hash) = %d, %d; want 64 MiB, 2", mem, lanes)
	}
	if mem, lanes := CostOf(DummyHash()); mem != HashMemoryBytes || lanes != 1 {
		t.Fatalf("CostOf(new hash) = %d, %d; want %d, 1", mem, lanes, HashMemoryBytes)
	}
	if _, lanes := CostOf("$argon2id$v=19$m=65536,t=3,p=0$c2FsdA$aGFzaA"); lanes != HashLanes {
		t.Fatalf("CostOf(p=0) lanes = %d, want the new hash's", lanes)
	}
}
