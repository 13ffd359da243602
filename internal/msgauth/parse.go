package msgauth

import (
	"errors"
	"fmt"
	"strings"
)

// Bounds of the Authentication-Results parser.
const (
	maxAuthResultsLen = 64 << 10
	maxResinfos       = 64
	maxProps          = 32
	maxCommentDepth   = 16
	maxComments       = 32
)

// authResult is one resinfo of an Authentication-Results field
// (RFC 8601 §2.2).
type authResult struct {
	Method   string // lower case, without its version
	Result   string // lower case
	Reason   string
	Props    []authProp
	Comments []string // the comments inside the resinfo
}

// authProp is one propspec: "ptype.property" (lower case) and its value,
// unquoted.
type authProp struct{ Name, Value string }

// prop returns the value of the first property named name, "" if none.
func (a authResult) prop(name string) string {
	for _, p := range a.Props {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

// parseAuthResults parses the value of an Authentication-Results field
// (RFC 8601 §2.2): the authserv-id, an optional version (only "1" is
// known, §2.6) and the results, "none" giving none. Comments are allowed
// wherever CFWS is; a pvalue is read leniently (any run of visible
// characters other than ";" "(" and quotes).
func parseAuthResults(s string) (authservID string, results []authResult, err error) {
	if len(s) > maxAuthResultsLen {
		return "", nil, fmt.Errorf("authentication results over %d bytes", maxAuthResultsLen)
	}
	l := &lexer{s: s}
	if err := l.cfws(); err != nil {
		return "", nil, err
	}
	if authservID, err = l.value(); err != nil || authservID == "" {
		return "", nil, fmt.Errorf("no authserv-id at offset %d", l.i)
	}
	if err := l.cfws(); err != nil {
		return "", nil, err
	}
	if !l.eof() && isDigit(l.peek()) {
		// RFC 8601 §2.6: a version we do not know means a syntax we do
		// not know.
		if v := l.digits(); v != "1" {
			return "", nil, fmt.Errorf("unsupported version %q", v)
		}
	}
	for {
		if err := l.cfws(); err != nil {
			return "", nil, err
		}
		if l.eof() {
			return authservID, results, nil
		}
		if err := l.expect(';'); err != nil {
			return "", nil, err
		}
		l.comments = nil
		if err := l.cfws(); err != nil {
			return "", nil, err
		}
		if l.eof() {
			return authservID, results, nil
		}
		ri, err := l.resinfo()
		if err != nil {
			return "", nil, err
		}
		if ri == nil {
			continue // "none"
		}
		if len(results) == maxResinfos {
			return "", nil, fmt.Errorf("more than %d results", maxResinfos)
		}
		results = append(results, *ri)
	}
}

// resinfo parses one result from its method on (nil for "none").
func (l *lexer) resinfo() (*authResult, error) {
	method := l.keyword()
	if method == "" {
		return nil, l.errorf("expected a method")
	}
	if err := l.cfws(); err != nil {
		return nil, err
	}
	if strings.EqualFold(method, "none") && (l.eof() || l.peek() == ';') {
		return nil, nil
	}
	if !l.eof() && l.peek() == '/' {
		l.i++
		if err := l.cfws(); err != nil {
			return nil, err
		}
		if l.digits() == "" {
			return nil, l.errorf("expected a method version")
		}
		if err := l.cfws(); err != nil {
			return nil, err
		}
	}
	if err := l.expect('='); err != nil {
		return nil, err
	}
	if err := l.cfws(); err != nil {
		return nil, err
	}
	result := l.keyword()
	if result == "" {
		return nil, l.errorf("expected a result")
	}
	ri := &authResult{Method: strings.ToLower(method), Result: strings.ToLower(result)}
	for {
		if err := l.cfws(); err != nil {
			return nil, err
		}
		if l.eof() || l.peek() == ';' {
			break
		}
		name := l.keyword()
		if name == "" {
			return nil, l.errorf("expected a property")
		}
		if err := l.cfws(); err != nil {
			return nil, err
		}
		if strings.EqualFold(name, "reason") && !l.eof() && l.peek() == '=' {
			l.i++
			if err := l.cfws(); err != nil {
				return nil, err
			}
			v, err := l.value()
			if err != nil {
				return nil, err
			}
			ri.Reason = v
			continue
		}
		if len(ri.Props) == maxProps {
			return nil, fmt.Errorf("more than %d properties", maxProps)
		}
		if err := l.expect('.'); err != nil {
			return nil, err
		}
		if err := l.cfws(); err != nil {
			return nil, err
		}
		property := l.keyword()
		if property == "" {
			return nil, l.errorf("expected a property name")
		}
		if err := l.cfws(); err != nil {
			return nil, err
		}
		if err := l.expect('='); err != nil {
			return nil, err
		}
		if err := l.cfws(); err != nil {
			return nil, err
		}
		v, err := l.pvalue()
		if err != nil {
			return nil, err
		}
		ri.Props = append(ri.Props, authProp{strings.ToLower(name + "." + property), v})
	}
	ri.Comments = l.comments
	l.comments = nil
	return ri, nil
}

// skipInstance skips the "i=N;" that starts the value of an ARC field
// (RFC 8617 §4.1.1) and returns the rest.
func skipInstance(s string) (string, bool) {
	l := &lexer{s: s}
	if l.cfws() != nil || l.eof() || (l.peek() != 'i' && l.peek() != 'I') {
		return s, false
	}
	l.i++
	if l.cfws() != nil || l.expect('=') != nil || l.cfws() != nil || l.digits() == "" ||
		l.cfws() != nil || l.expect(';') != nil {
		return s, false
	}
	return s[l.i:], true
}

// leadingValue returns the value (token or quoted string) that starts s
// after CFWS: the authserv-id of an Authentication-Results field.
func leadingValue(s string) (string, bool) {
	l := &lexer{s: s}
	if l.cfws() != nil {
		return "", false
	}
	v, err := l.value()
	return v, err == nil
}

// lexer reads the tokens of RFC 5322 structured field bodies.
type lexer struct {
	s        string
	i        int
	comments []string
}

func (l *lexer) eof() bool  { return l.i >= len(l.s) }
func (l *lexer) peek() byte { return l.s[l.i] }

func (l *lexer) errorf(format string, args ...any) error {
	return fmt.Errorf("at offset %d: %s", l.i, fmt.Sprintf(format, args...))
}

func (l *lexer) expect(c byte) error {
	if l.eof() || l.s[l.i] != c {
		return l.errorf("expected %q", c)
	}
	l.i++
	return nil
}

// cfws skips folding white space and comments (RFC 5322 §3.2.2), keeping
// the first maxComments comments.
func (l *lexer) cfws() error {
	for !l.eof() {
		switch l.s[l.i] {
		case ' ', '\t', '\r', '\n':
			l.i++
		case '(':
			c, err := l.comment()
			if err != nil {
				return err
			}
			if len(l.comments) < maxComments {
				l.comments = append(l.comments, c)
			}
		default:
			return nil
		}
	}
	return nil
}

var errComment = errors.New("unterminated comment")

// comment reads a comment, nested ones included, and returns its text.
func (l *lexer) comment() (string, error) {
	var b strings.Builder
	depth := 0
	for ; !l.eof(); l.i++ {
		c := l.s[l.i]
		switch c {
		case '\\':
			if l.i+1 >= len(l.s) {
				return "", errComment
			}
			l.i++
			b.WriteByte(l.s[l.i])
			continue
		case '(':
			depth++
			if depth > maxCommentDepth {
				return "", l.errorf("comments nested over %d deep", maxCommentDepth)
			}
			if depth == 1 {
				continue
			}
		case ')':
			depth--
			if depth == 0 {
				l.i++
				return strings.Join(strings.Fields(b.String()), " "), nil
			}
		case '\r', '\n', '\t':
			c = ' '
		}
		b.WriteByte(c)
	}
	return "", errComment
}

// value reads a MIME value (RFC 2045 §5.1): a token or a quoted string.
func (l *lexer) value() (string, error) {
	if !l.eof() && l.peek() == '"' {
		return l.quoted()
	}
	start := l.i
	for !l.eof() && isTokenChar(l.peek()) {
		l.i++
	}
	if l.i == start {
		return "", l.errorf("expected a value")
	}
	return l.s[start:l.i], nil
}

// quoted reads a quoted string (RFC 5322 §3.2.4) and returns its content.
func (l *lexer) quoted() (string, error) {
	var b strings.Builder
	for l.i++; !l.eof(); l.i++ {
		c := l.s[l.i]
		switch c {
		case '\\':
			if l.i+1 >= len(l.s) {
				return "", l.errorf("unterminated quoted string")
			}
			l.i++
			b.WriteByte(l.s[l.i])
		case '"':
			l.i++
			return b.String(), nil
		case '\r', '\n':
		default:
			b.WriteByte(c)
		}
	}
	return "", l.errorf("unterminated quoted string")
}

// pvalue reads a property value (RFC 8601 §2.2: a value, or
// [[local-part] "@"] domain-name).
func (l *lexer) pvalue() (string, error) {
	prefix := ""
	if !l.eof() && l.peek() == '"' {
		q, err := l.quoted()
		if err != nil {
			return "", err
		}
		if l.eof() || l.peek() != '@' {
			return q, nil
		}
		prefix = q
	}
	start := l.i
	for !l.eof() {
		c := l.peek()
		if c <= ' ' || c == 0x7f || c == ';' || c == '(' || c == ')' || c == '"' {
			break
		}
		l.i++
	}
	if l.i == start && prefix == "" {
		return "", l.errorf("expected a property value")
	}
	return prefix + l.s[start:l.i], nil
}

// keyword reads a Keyword (RFC 5321 §4.1.2, with "_" allowed).
func (l *lexer) keyword() string {
	start := l.i
	for !l.eof() {
		c := l.peek()
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			break
		}
		l.i++
	}
	return l.s[start:l.i]
}

func (l *lexer) digits() string {
	start := l.i
	for !l.eof() && isDigit(l.peek()) && l.i-start < 10 {
		l.i++
	}
	return l.s[start:l.i]
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// tspecials are the characters a MIME token cannot hold (RFC 2045 §5.1).
const tspecials = `()<>@,;:\"/[]?=`

// isTokenChar reports whether c may be in a token read from a field: a
// visible character that is not a tspecial, or a byte of UTF-8
// (RFC 6532 §3.2).
func isTokenChar(c byte) bool {
	return c > ' ' && c != 0x7f && strings.IndexByte(tspecials, c) < 0
}

// isToken reports whether s is a MIME token of ASCII characters.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || !isTokenChar(s[i]) {
			return false
		}
	}
	return s != ""
}
