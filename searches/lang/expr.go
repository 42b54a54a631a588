package lang

import (
	"fmt"
	"strconv"
	"strings"
)

// The expression grammar (docs/search-language.md):
//
//	expr := or ;  or := and ("or" and)* ;  and := not ("and" not)* ;  not := "not" not | cmp
//	cmp  := sum (("<"|"<="|">"|">="|"="|"!=") sum)?
//	sum  := prod (("+"|"-") prod)* ;  prod := unary (("*"|"/") unary)* ;  unary := "-" unary | atom
//	atom := number unit? | "true" | "false" | "(" expr ")" | "params." name | name ("@" ("as_of"|"baseline"))?
//	      | "date" "(" string ")" | "days_between" "(" expr "," expr ")" | "age_at" "(" expr ")"
//	unit := "day" | "days" | "month" | "months" | "year" | "years"
//
// A string is allowed only as the argument of date(); a number followed by
// a unit is a duration, which only a date may be shifted by (date + 3
// months).
//
// Parsing yields a small syntax tree with byte offsets into the expression
// text; the loader type-checks it and builds model expressions, turning the
// offsets into file positions.

type tokKind int

const (
	tEOF tokKind = iota
	tNum
	tName
	tOp  // operators and punctuation: < <= > >= = != + - * / ( ) . @ ,
	tStr // a quoted string: only date("YYYY-MM-DD") takes one
)

type token struct {
	kind tokKind
	text string
	off  int
}

// syntaxError is a problem at a byte offset of the expression text.
type syntaxError struct {
	off      int
	msg, fix string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%d: %s", e.off, e.msg) }

func isNameStart(c byte) bool { return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isNameChar(c byte) bool  { return isNameStart(c) || '0' <= c && c <= '9' }
func isDigit(c byte) bool     { return '0' <= c && c <= '9' }

func lex(src string) ([]token, *syntaxError) {
	var toks []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case isDigit(c):
			j := i
			for j < len(src) && isDigit(src[j]) {
				j++
			}
			if j < len(src) && src[j] == '.' {
				if j+1 >= len(src) || !isDigit(src[j+1]) {
					return nil, &syntaxError{off: j, msg: fmt.Sprintf("malformed number %q", src[i:j+1]), fix: "write digits after the decimal point, e.g. 1.5"}
				}
				j++
				for j < len(src) && isDigit(src[j]) {
					j++
				}
			}
			if j < len(src) && isNameStart(src[j]) {
				k := j
				for k < len(src) && isNameChar(src[k]) {
					k++
				}
				return nil, &syntaxError{off: i, msg: fmt.Sprintf("malformed number %q", src[i:k]), fix: "names start with a letter; numbers are plain decimals such as 120 or 1.5"}
			}
			toks = append(toks, token{tNum, src[i:j], i})
			i = j
		case isNameStart(c):
			j := i
			for j < len(src) && isNameChar(src[j]) {
				j++
			}
			toks = append(toks, token{tName, src[i:j], i})
			i = j
		default:
			two := ""
			if i+1 < len(src) {
				two = src[i : i+2]
			}
			switch two {
			case "<=", ">=", "!=":
				toks = append(toks, token{tOp, two, i})
				i += 2
				continue
			case "==":
				return nil, &syntaxError{off: i, msg: `unexpected "=="`, fix: "write = to test equality"}
			case "&&":
				return nil, &syntaxError{off: i, msg: `unexpected "&&"`, fix: "write and"}
			case "||":
				return nil, &syntaxError{off: i, msg: `unexpected "||"`, fix: "write or"}
			case "<>":
				return nil, &syntaxError{off: i, msg: `unexpected "<>"`, fix: "write != to test inequality"}
			}
			switch c {
			case '<', '>', '=', '+', '-', '*', '/', '(', ')', '.', '@', ',':
				toks = append(toks, token{tOp, string(c), i})
				i++
			case '!':
				return nil, &syntaxError{off: i, msg: `unexpected "!"`, fix: "write not, or != to test inequality"}
			case '&':
				return nil, &syntaxError{off: i, msg: `unexpected "&"`, fix: "write and"}
			case '|':
				return nil, &syntaxError{off: i, msg: `unexpected "|"`, fix: "write or"}
			case '"', '\'':
				j := strings.IndexByte(src[i+1:], c)
				if j < 0 {
					return nil, &syntaxError{off: i, msg: "unexpected quote inside an expression", fix: "expressions have no strings: use names, numbers, true and false"}
				}
				toks = append(toks, token{tStr, src[i+1 : i+1+j], i})
				i += j + 2
			default:
				r := []rune(src[i:])[0]
				return nil, &syntaxError{off: i, msg: fmt.Sprintf("unexpected character %q", r), fix: "expressions use names, numbers, and, or, not, comparisons, + - * / and parentheses"}
			}
		}
	}
	toks = append(toks, token{tEOF, "", len(src)})
	return toks, nil
}

type astKind int

const (
	aNum astKind = iota + 1
	aBool
	aName  // a variable or built-in, maybe with an anchor
	aParam // params.NAME
	aNot
	aNeg
	aBin // and, or, comparisons, arithmetic
	aParen
	aDur  // a number with a unit: num, unit
	aCall // name(args...): date, days_between, age_at
	aStr  // a string, only as date()'s argument
)

type ast struct {
	kind     astKind
	off, end int // the node's text is src[off:end]
	opOff    int // offset of the operator (aNot, aNeg, aBin)
	op       string
	num      float64
	b        bool
	name     string
	at       string // "", "as_of" or "baseline"
	atOff    int
	l, r     *ast // aBin operands; aNot, aNeg, aParen use l
	unit     string
	args     []*ast
	str      string
}

// units maps the words a duration may use to the unit.
var units = map[string]string{"day": "days", "days": "days", "month": "months", "months": "months", "year": "years", "years": "years"}

// functions are the names that take arguments, with their arity.
var functions = map[string]int{"date": 1, "days_between": 2, "age_at": 1}

var compareOps = map[string]bool{"<": true, "<=": true, ">": true, ">=": true, "=": true, "!=": true}

type parser struct {
	src  string
	toks []token
	i    int
}

// parseExpr parses an expression.
func parseExpr(src string) (*ast, *syntaxError) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	if len(toks) == 1 {
		return nil, &syntaxError{off: 0, msg: "empty expression", fix: "write an expression, e.g. registered and age >= 18"}
	}
	p := &parser{src: src, toks: toks}
	var out *ast
	func() {
		defer func() {
			if r := recover(); r != nil {
				se, ok := r.(*syntaxError)
				if !ok {
					panic(r)
				}
				err = se
			}
		}()
		out = p.or()
		if t := p.peek(); t.kind != tEOF {
			if t.kind == tOp && compareOps[t.text] {
				p.fail(t.off, fmt.Sprintf("comparisons cannot be chained: unexpected %q", t.text), "combine two comparisons with and, e.g. a < b and b < c")
			}
			if t.kind == tOp && t.text == ")" {
				p.fail(t.off, `unexpected ")" without a matching "("`, "remove it or add the opening parenthesis")
			}
			p.fail(t.off, fmt.Sprintf("unexpected %s after a complete expression", describe(t)), "join the parts with an operator such as and, or, +, <")
		}
	}()
	if err != nil {
		return nil, err
	}
	return out, nil
}

func describe(t token) string {
	switch t.kind {
	case tEOF:
		return "end of expression"
	case tNum:
		return "number " + t.text
	}
	return strconv.Quote(t.text)
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) fail(off int, msg, fix string) {
	panic(&syntaxError{off: off, msg: msg, fix: fix})
}

func (p *parser) isWord(w string) bool {
	t := p.peek()
	return t.kind == tName && t.text == w
}

func (p *parser) isOp(ops ...string) bool {
	t := p.peek()
	if t.kind != tOp {
		return false
	}
	for _, o := range ops {
		if t.text == o {
			return true
		}
	}
	return false
}

func (p *parser) bin(op string, opOff int, l, r *ast) *ast {
	return &ast{kind: aBin, op: op, opOff: opOff, off: l.off, end: r.end, l: l, r: r}
}

func (p *parser) or() *ast {
	x := p.and()
	for p.isWord("or") {
		t := p.next()
		x = p.bin("or", t.off, x, p.and())
	}
	return x
}

func (p *parser) and() *ast {
	x := p.not()
	for p.isWord("and") {
		t := p.next()
		x = p.bin("and", t.off, x, p.not())
	}
	return x
}

func (p *parser) not() *ast {
	if p.isWord("not") {
		t := p.next()
		x := p.not()
		return &ast{kind: aNot, off: t.off, opOff: t.off, end: x.end, l: x}
	}
	return p.cmp()
}

func (p *parser) cmp() *ast {
	x := p.sum()
	if t := p.peek(); t.kind == tOp && compareOps[t.text] {
		p.next()
		x = p.bin(t.text, t.off, x, p.sum())
	}
	return x
}

func (p *parser) sum() *ast {
	x := p.prod()
	for p.isOp("+", "-") {
		t := p.next()
		x = p.bin(t.text, t.off, x, p.prod())
	}
	return x
}

func (p *parser) prod() *ast {
	x := p.unary()
	for p.isOp("*", "/") {
		t := p.next()
		x = p.bin(t.text, t.off, x, p.unary())
	}
	return x
}

func (p *parser) unary() *ast {
	if p.isOp("-") {
		t := p.next()
		x := p.unary()
		return &ast{kind: aNeg, off: t.off, opOff: t.off, end: x.end, l: x}
	}
	return p.atom()
}

func (p *parser) atom() *ast {
	t := p.next()
	switch t.kind {
	case tStr:
		p.fail(t.off, "unexpected quote inside an expression", "expressions have no strings: use names, numbers, true and false")
	case tNum:
		v, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			p.fail(t.off, fmt.Sprintf("malformed number %q", t.text), "write a plain decimal such as 120 or 1.5")
		}
		if u := p.peek(); u.kind == tName && units[u.text] != "" {
			p.next()
			return &ast{kind: aDur, num: v, unit: units[u.text], off: t.off, end: u.off + len(u.text)}
		}
		return &ast{kind: aNum, num: v, off: t.off, end: t.off + len(t.text)}
	case tName:
		switch t.text {
		case "true", "false":
			return &ast{kind: aBool, b: t.text == "true", off: t.off, end: t.off + len(t.text)}
		case "and", "or":
			p.fail(t.off, fmt.Sprintf("expected a value before %q", t.text), "write a value on each side of "+t.text)
		case "not":
			// Only reached after a comparison or arithmetic operator.
			p.fail(t.off, `"not" cannot follow a comparison or arithmetic operator`, "negate the whole comparison instead, e.g. not (a < b)")
		case "params":
			if !p.isOp(".") {
				p.fail(t.off+len(t.text), `expected "." after params`, "refer to a parameter as params.NAME")
			}
			p.next()
			n := p.next()
			if n.kind != tName {
				p.fail(n.off, "expected a parameter name after params.", "refer to a parameter as params.NAME")
			}
			x := &ast{kind: aParam, name: n.text, off: t.off, end: n.off + len(n.text)}
			if p.isOp("@") {
				p.fail(p.peek().off, "a parameter has no date: @ cannot follow params."+n.text, "remove the @ suffix")
			}
			return x
		}
		if n, ok := functions[t.text]; ok && p.isOp("(") {
			return p.call(t, n)
		}
		x := &ast{kind: aName, name: t.text, off: t.off, end: t.off + len(t.text)}
		if p.isOp("(") {
			p.fail(p.peek().off, fmt.Sprintf("%s is not a function", t.text), "the functions are date(\"YYYY-MM-DD\"), days_between(a, b) and age_at(date)")
		}
		if p.isOp(".") {
			p.fail(p.peek().off, fmt.Sprintf("unexpected \".\" after %s", t.text), "only parameters are written with a dot, as params.NAME")
		}
		if p.isOp("@") {
			at := p.next()
			a := p.next()
			if a.kind != tName || (a.text != "as_of" && a.text != "baseline") {
				off := a.off
				if a.kind == tEOF {
					off = at.off + 1
				}
				p.fail(off, fmt.Sprintf("unknown anchor %q after @", a.text), "write "+t.text+"@as_of or "+t.text+"@baseline")
			}
			x.at, x.atOff, x.end = a.text, at.off, a.off+len(a.text)
		}
		return x
	case tOp:
		switch t.text {
		case "(":
			x := p.or()
			c := p.peek()
			if !(c.kind == tOp && c.text == ")") {
				if c.kind == tEOF {
					p.fail(c.off, "missing \")\"", "add \")\" to close the \"(\" opened earlier")
				}
				p.fail(c.off, fmt.Sprintf("expected \")\", found %s", describe(c)), "close the parenthesis, or join the parts with an operator")
			}
			p.next()
			return &ast{kind: aParen, off: t.off, end: c.off + 1, l: x}
		case "@":
			p.fail(t.off, `unexpected "@"`, "an anchor follows a name, as in long_term@baseline")
		}
	case tEOF:
		p.fail(t.off, "unexpected end of expression", "complete the expression after the last operator")
	}
	p.fail(t.off, fmt.Sprintf("expected a value, found %s", describe(t)), "write a name, a number, true, false, params.NAME or a parenthesised expression")
	return nil
}

// call parses the arguments of a function: date takes a string, the others
// expressions.
func (p *parser) call(name token, n int) *ast {
	p.next() // (
	x := &ast{kind: aCall, name: name.text, off: name.off}
	for i := 0; i < n; i++ {
		if i > 0 {
			if !p.isOp(",") {
				c := p.peek()
				p.fail(c.off, fmt.Sprintf("%s takes %d arguments: expected \",\", found %s", name.text, n, describe(c)), "separate the arguments with a comma, e.g. days_between(first_issue, as_of)")
			}
			p.next()
		}
		if name.text == "date" {
			s := p.next()
			if s.kind != tStr {
				p.fail(s.off, "date() takes a date in quotes", `write date("2024-04-01")`)
			}
			x.args = append(x.args, &ast{kind: aStr, str: s.text, off: s.off, end: s.off + len(s.text) + 2})
			continue
		}
		x.args = append(x.args, p.or())
	}
	c := p.peek()
	if !(c.kind == tOp && c.text == ")") {
		if c.kind == tOp && c.text == "," {
			p.fail(c.off, fmt.Sprintf("%s takes %d argument%s", name.text, n, map[bool]string{true: "", false: "s"}[n == 1]), "remove the extra arguments")
		}
		p.fail(c.off, fmt.Sprintf("expected \")\" to close %s(, found %s", name.text, describe(c)), "close the parenthesis after the arguments")
	}
	p.next()
	x.end = c.off + 1
	return x
}

// text is the source of an AST node, for messages.
func (a *ast) text(src string) string {
	return strings.TrimSpace(src[a.off:a.end])
}
