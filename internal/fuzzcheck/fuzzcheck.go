// Package fuzzcheck holds what the fuzz targets of several packages share:
// how a position in YAML text is checked. Its test checks that `make fuzz`
// lists every fuzz target of the repository (docs/fuzzing.md).
package fuzzcheck

import "unicode/utf8"

// YAMLLines returns the number of lines of src as a YAML parser counts
// them: a line ends at \n, \r\n or a lone \r, and, as yaml.v3 reads it,
// at U+0085, U+2028 and U+2029. Text with no line break is one line.
func YAMLLines(src []byte) int {
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
