package auth

import (
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// ErrWeakPassword is wrapped by every refusal of CheckPasswordPolicy.
var ErrWeakPassword = errors.New("password refused")

// MinNameInPassword is the shortest user name that a password may not
// contain: shorter names ("al") would refuse too many good passwords.
const MinNameInPassword = 3

//go:embed passwords/ncsc-top-10000.txt
var commonPasswordsText string

var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	m := make(map[string]struct{}, 10000)
	for line := range strings.SplitSeq(commonPasswordsText, "\n") {
		if line = strings.TrimRight(line, "\r"); line != "" {
			m[strings.ToLower(line)] = struct{}{}
		}
	}
	return m
})

// IsCommonPassword reports whether password, lower-cased, is one of the
// most used passwords (passwords/SOURCES.md), or becomes one once digits,
// spaces and punctuation are taken off both ends ("Password1234!").
func IsCommonPassword(password string) bool {
	common := commonPasswords()
	lower := strings.ToLower(password)
	if _, ok := common[lower]; ok {
		return true
	}
	core := strings.TrimFunc(lower, func(r rune) bool { return !unicode.IsLetter(r) })
	if core == "" {
		return false
	}
	_, ok := common[core]
	return ok
}

// CheckPasswordPolicy says why a new password for the user called name is
// refused, or returns nil: it must have at least MinPasswordLen characters
// (Unicode code points, not bytes), must not contain the user name (for
// names of MinNameInPassword characters or more, ignoring case) and must
// not be one of the most used passwords (IsCommonPassword).
func CheckPasswordPolicy(name, password string) error {
	if n := utf8.RuneCountInString(password); n < MinPasswordLen {
		return fmt.Errorf("%w: it has %d characters; use at least %d (a few unrelated words make a good one)", ErrWeakPassword, n, MinPasswordLen)
	}
	if name = strings.TrimSpace(name); utf8.RuneCountInString(name) >= MinNameInPassword &&
		strings.Contains(strings.ToLower(password), strings.ToLower(name)) {
		return fmt.Errorf("%w: it contains the user name %q; choose one that does not", ErrWeakPassword, name)
	}
	if IsCommonPassword(password) {
		return fmt.Errorf("%w: it is one of the most used passwords (or one with digits or symbols added); choose another", ErrWeakPassword)
	}
	return nil
}
