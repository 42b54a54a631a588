// Package fuzzcheck holds what the fuzz targets of several packages share:
// how a position in YAML text is checked. Its test checks that `make fuzz`
// lists every fuzz target of the repository (docs/fuzzing.md).
package fuzzcheck

import (
	"unicode/utf16"
	"unicode/utf8"
)

// YAMLLines returns the number of lines of src as a YAML parser counts
// them: a line ends at \n, \r\n or a lone \r, and, as yaml.v3 reads it,
// at U+0085, U+2028 and U+2029. Text with no line break is one line. Text
// that starts with a UTF-16 byte order mark is read as UTF-16, as yaml.v3
// reads it.
func YAMLLines(src []byte) int {
	if len(src) >= 2 && (src[0] == 0xfe && src[1] == 0xff || src[0] == 0xff && src[1] == 0xfe) {
		units := make([]uint16, 0, len(src)/2)
		for i := 2; i+1 < len(src); i += 2 {
			if src[0] == 0xfe {
				units = append(units, uint16(src[i])<<8|uint16(src[i+1]))
			} else {
				units = append(units, uint16(src[i+1])<<8|uint16(src[i]))
			}
		}
		src = []byte(string(utf16.Decode(units)))
	}
	n := 1
	for i := 0; i < len(src); {
		r, size := utf8.DecodeRune(src[i:])
		switch r {
		case '\r':
			if i+1 < len(src) && src[i+1] == '\n' {
				size++
			}
			n++
		case '\n', '\u0085', '\u2028', '\u2029':
			n++
		}
		i += size
	}
	return n
}

// InYAML reports whether line:col is a place in src: a line of it (or the
// line just past its end, where yaml.v3 puts the empty root of "---"),
// column 1 or more.
func InYAML(src []byte, line, col int) bool {
	return line >= 1 && line <= YAMLLines(src)+1 && col >= 1
}
