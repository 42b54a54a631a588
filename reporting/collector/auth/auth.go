// Package auth holds the collector's secrets handling: argon2id password
// hashes, random API tokens, session ids and one-time enrolment codes. Only
// hashes of secrets are ever stored.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters for new password hashes: RFC 9106's second
// recommendation for memory-constrained use (t=3, 64 MiB), with one lane
// (p=1) in place of its four. Lanes set how many processors one check
// keeps busy, not what a guess costs an attacker (that is m × t): with one
// lane a check takes longer by the clock but leaves the other processors
// of a small host free to answer everything else during a flood of
// sign-ins. Hashes made with more lanes still check.
const (
	argonTime    = 3
	argonMemory  = 64 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
)

// ErrMismatch means a password does not match its hash.
var ErrMismatch = errors.New("password does not match")

// MinPasswordLen is the fewest characters (Unicode code points) a
// password may have.
const MinPasswordLen = 12

// HashMemoryBytes is the memory one new password hash takes (argon2id's m
// parameter): the unit a sign-in memory budget is divided by.
const HashMemoryBytes = argonMemory * 1024

// HashPassword returns an encoded argon2id hash of password:
// $argon2id$v=19$m=65536,t=3,p=1$SALT$HASH (base64, no padding). It
// refuses passwords shorter than MinPasswordLen characters; callers
// setting a new password check CheckPasswordPolicy first.
func HashPassword(password string) (string, error) {
	if n := utf8.RuneCountInString(password); n < MinPasswordLen {
		return "", fmt.Errorf("%w: it has %d characters; use at least %d", ErrWeakPassword, n, MinPasswordLen)
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("read random salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches encoded (ErrMismatch if
// not). The parameters come from the encoded hash, so they can be raised
// later without breaking existing hashes.
func CheckPassword(encoded, password string) error {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return errors.New("password hash is not argon2id")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return fmt.Errorf("unsupported argon2 version %q", parts[2])
	}
	var mem, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &t, &p); err != nil {
		return fmt.Errorf("malformed argon2 parameters %q: %w", parts[3], err)
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return fmt.Errorf("malformed argon2 salt: %w", err)
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return errors.New("malformed argon2 hash")
	}
	got := argon2.IDKey([]byte(password), salt, t, mem, p, uint32(len(want)))
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrMismatch
	}
	return nil
}

// HashLanes is the processors one check against a new hash keeps busy
// (argon2id's p parameter).
const HashLanes = argonThreads

// MemoryOf returns the memory, in bytes, that checking a password against
// encoded takes (its m parameter), or HashMemoryBytes when encoded is not
// an argon2id hash this package can read.
func MemoryOf(encoded string) int64 {
	mem, _ := CostOf(encoded)
	return mem
}

// CostOf returns what checking a password against encoded takes: memory
// in bytes (m) and processors (p, its lanes); those of a new hash when
// encoded is not an argon2id hash this package can read.
func CostOf(encoded string) (mem int64, lanes int) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return HashMemoryBytes, HashLanes
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || p == 0 {
		return HashMemoryBytes, HashLanes
	}
	return int64(m) * 1024, int(p)
}

// DummyHash is a hash with the parameters of new hashes, of a random
// password nobody knows. A sign-in for a user that is unknown, disabled
// or has no password checks against it, so it costs what a real check
// costs and its timing tells nothing.
var DummyHash = sync.OnceValue(func() string {
	pw, err := RandomToken(24)
	if err != nil {
		panic(fmt.Sprintf("auth: no randomness: %v", err))
	}
	h, err := HashPassword(pw)
	if err != nil {
		panic(fmt.Sprintf("auth: dummy hash: %v", err))
	}
	return h
})

// RandomToken returns a URL-safe random string carrying n bytes of entropy.
func RandomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// APITokenPrefix starts every API token, so a leaked one is recognisable.
const APITokenPrefix = "stw_"

// NewAPIToken returns a new API token (256 bits of entropy).
func NewAPIToken() (string, error) {
	t, err := RandomToken(32)
	if err != nil {
		return "", err
	}
	return APITokenPrefix + t, nil
}

// HashSecret returns the hex SHA-256 of a high-entropy secret (token,
// session id, enrolment code). Such secrets need no slow hash: guessing one
// is already infeasible.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// codeAlphabet avoids letters that are easy to misread when a code is read
// over the telephone (Crockford-like: no I, L, O, U).
const codeAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

var codeEncoding = base32.NewEncoding(codeAlphabet).WithPadding(base32.NoPadding)

// NewEnrolmentCode returns a one-time enrolment code with 160 bits of
// entropy, grouped in fours for reading aloud: XXXX-XXXX-...-XXXX.
func NewEnrolmentCode() (string, error) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	s := codeEncoding.EncodeToString(b) // 32 characters
	var groups []string
	for i := 0; i < len(s); i += 4 {
		groups = append(groups, s[i:i+4])
	}
	return strings.Join(groups, "-"), nil
}

// NormaliseEnrolmentCode removes spaces and dashes and upper-cases, so that
// a code typed by hand hashes the same as the code printed.
func NormaliseEnrolmentCode(code string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(code) {
		if r == '-' || r == ' ' || r == '\t' {
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// HashEnrolmentCode returns the stored form of an enrolment code.
func HashEnrolmentCode(code string) string {
	return HashSecret("enrol:" + NormaliseEnrolmentCode(code))
}
