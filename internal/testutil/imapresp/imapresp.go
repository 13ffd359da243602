// Package imapresp parses IMAP response data (RFC 9051 §9, RFC 3516
// literal8) for tests, strictly and independently of internal/imap, so
// that tests can check what the server writes against the grammar: atoms
// (numbers, NIL, flags and FETCH item names such as BODY[1.MIME]<0>),
// quoted strings, literals, literal8s and parenthesized lists, with
// bounded nesting.
package imapresp

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Kind is the kind of a Value.
type Kind int

// The kinds of values.
const (
	Atom Kind = iota
	Nil
	String
	List
)

// Value is one parsed value.
type Value struct {
	Kind Kind
	Atom string  // Atom: its text
	Str  []byte  // String: the octets of a quoted string or literal
	Lit8 bool    // String: it was a literal8
	List []Value // List: the elements
}

// IsString reports whether v is a string or NIL (an nstring).
func (v Value) IsString() bool { return v.Kind == String || v.Kind == Nil }

// Text returns the string of an nstring ("" for NIL) or an atom's text.
func (v Value) Text() string {
	if v.Kind == Atom {
		return v.Atom
	}
	return string(v.Str)
}

// Number returns the value of a number atom.
func (v Value) Number() (int64, bool) {
	if v.Kind != Atom {
		return 0, false
	}
	n, err := strconv.ParseInt(v.Atom, 10, 64)
	return n, err == nil && n >= 0
}

// String formats v back in IMAP syntax (literals as quoted strings when
// they can be), for messages.
func (v Value) String() string {
	switch v.Kind {
	case Atom:
		return v.Atom
	case Nil:
		return "NIL"
	case String:
		return strconv.Quote(string(v.Str))
	}
	var b strings.Builder
	b.WriteByte('(')
	for i, e := range v.List {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(e.String())
	}
	b.WriteByte(')')
	return b.String()
}

// Options tune the parser.
type Options struct {
	// UTF8 allows UTF-8 in quoted strings (RFC 9051 utf8-quoted, after
	// ENABLE UTF8=ACCEPT); otherwise they are 7-bit.
	UTF8 bool
	// MaxDepth bounds list nesting; 0 means 100.
	MaxDepth int
}

// Parse parses one value at the start of b and returns it and the rest.
func Parse(b []byte, o Options) (Value, []byte, error) {
	p := parser{b: b, o: o}
	if p.o.MaxDepth == 0 {
		p.o.MaxDepth = 100
	}
	v, err := p.value(0)
	return v, p.b[p.i:], err
}

// ParseAll parses the whole of b as one value.
func ParseAll(b []byte, o Options) (Value, error) {
	v, rest, err := Parse(b, o)
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("imapresp: %d octets after the value: %.20q", len(rest), rest)
	}
	return v, err
}

type parser struct {
	b []byte
	i int
	o Options
}

func (p *parser) errf(format string, args ...any) error {
	return fmt.Errorf("imapresp: at %d: %s", p.i, fmt.Sprintf(format, args...))
}

func (p *parser) value(depth int) (Value, error) {
	if p.i >= len(p.b) {
		return Value{}, errors.New("imapresp: value expected, end of input")
	}
	switch c := p.b[p.i]; {
	case c == '(':
		if depth >= p.o.MaxDepth {
			return Value{}, p.errf("nested more than %d lists", p.o.MaxDepth)
		}
		p.i++
		v := Value{Kind: List}
		for {
			if p.i >= len(p.b) {
				return Value{}, p.errf("unclosed list")
			}
			if p.b[p.i] == ')' {
				p.i++
				return v, nil
			}
			if len(v.List) > 0 {
				// Elements are separated by one SP, except the bodies of
				// a multipart and the addresses of a list, which follow
				// each other (RFC 9051 body-type-mpart, env-from...).
				if p.b[p.i] == ' ' {
					p.i++
				} else if !(p.b[p.i-1] == ')' && p.b[p.i] == '(') {
					return Value{}, p.errf("SP expected, got %q", p.b[p.i])
				}
			}
			e, err := p.value(depth + 1)
			if err != nil {
				return Value{}, err
			}
			v.List = append(v.List, e)
		}
	case c == '"':
		return p.quoted()
	case c == '{':
		return p.literal(false)
	case c == '~':
		p.i++
		if p.i >= len(p.b) || p.b[p.i] != '{' {
			return Value{}, p.errf("~ without {")
		}
		return p.literal(true)
	default:
		return p.atom()
	}
}

func (p *parser) quoted() (Value, error) {
	p.i++
	var s []byte
	for p.i < len(p.b) {
		c := p.b[p.i]
		p.i++
		switch {
		case c == '"':
			if !p.o.UTF8 || utf8.Valid(s) {
				return Value{Kind: String, Str: s}, nil
			}
			return Value{}, p.errf("quoted string not UTF-8")
		case c == '\\':
			if p.i >= len(p.b) || (p.b[p.i] != '"' && p.b[p.i] != '\\') {
				return Value{}, p.errf("bad quoted-pair")
			}
			s = append(s, p.b[p.i])
			p.i++
		case c == 0 || c == '\r' || c == '\n':
			return Value{}, p.errf("%q in a quoted string", c)
		case c >= 0x80 && !p.o.UTF8:
			return Value{}, p.errf("8-bit octet in a quoted string")
		default:
			s = append(s, c)
		}
	}
	return Value{}, p.errf("unterminated quoted string")
}

func (p *parser) literal(lit8 bool) (Value, error) {
	p.i++ // {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	n, err := strconv.ParseInt(string(p.b[start:p.i]), 10, 64)
	if err != nil || p.i-start > 19 {
		return Value{}, p.errf("bad literal size")
	}
	if p.i+3 > len(p.b) || string(p.b[p.i:p.i+3]) != "}\r\n" {
		return Value{}, p.errf("literal size not followed by } CRLF")
	}
	p.i += 3
	if int64(len(p.b)-p.i) < n {
		return Value{}, p.errf("literal of %d octets, %d left", n, len(p.b)-p.i)
	}
	s := p.b[p.i : p.i+int(n)]
	p.i += int(n)
	if !lit8 {
		// RFC 9051 §4.3: CHAR8 is any octet but NUL.
		for _, c := range s {
			if c == 0 {
				return Value{}, p.errf("NUL in a literal")
			}
		}
	}
	return Value{Kind: String, Str: append([]byte(nil), s...), Lit8: lit8}, nil
}

// atom reads an atom, a flag (\Seen) or a FETCH item name with its
// section and partial (BODY[1.HEADER.FIELDS (A B)]<0>).
func (p *parser) atom() (Value, error) {
	start := p.i
	if p.b[p.i] == '\\' {
		p.i++
	}
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c == '[' {
			end := strings.IndexByte(string(p.b[p.i:]), ']')
			if end < 0 {
				return Value{}, p.errf("unclosed [")
			}
			if strings.ContainsAny(string(p.b[p.i:p.i+end]), "\r\n") {
				return Value{}, p.errf("line break in a section")
			}
			p.i += end + 1
			continue
		}
		if !atomChar(c) {
			break
		}
		p.i++
	}
	if p.i == start {
		return Value{}, p.errf("unexpected %q", p.b[p.i])
	}
	a := string(p.b[start:p.i])
	if strings.EqualFold(a, "NIL") {
		return Value{Kind: Nil}, nil
	}
	return Value{Kind: Atom, Atom: a}, nil
}

// atomChar: RFC 9051 ATOM-CHAR, with "<" ">" "." allowed as in item
// names; "]" is a resp-special.
func atomChar(c byte) bool {
	return c > ' ' && c < 0x7f && !strings.ContainsRune(`(){%*"\]`, rune(c))
}
