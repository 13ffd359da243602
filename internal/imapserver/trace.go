package imapserver

import (
	"bytes"
	"strconv"
	"strings"

	"postel/internal/trace"
)

// imapRedactor shows an IMAP dialogue (internal/trace) without LOGIN's
// password, AUTHENTICATE's initial response and exchange, and without the
// content of any literal, either way: APPEND's messages, FETCH's bodies
// and headers, strings a client sent as literals. A literal is shown by
// its announcement ("{1234}") only.
type imapRedactor struct {
	authTag string // the tag of the AUTHENTICATE running: client lines are the SASL exchange
	cont    bool   // the client's command goes on after a literal
	login   bool   // the command going on is LOGIN: the rest of it is hidden
}

func newIMAPRedactor() trace.Redactor { return &imapRedactor{} }

func (r *imapRedactor) Client(line []byte) (string, int64) {
	n, lit := literalAtEnd(line)
	if r.cont {
		r.cont = lit
		shown := string(line)
		if r.login {
			r.login = lit
			shown = ""
			if len(bytes.TrimSpace(line)) > 0 {
				shown = "***"
			}
		}
		return shown, n
	}
	if r.authTag != "" {
		if string(line) == "*" { // RFC 9051 §6.2.2: the client cancels
			return "*", 0
		}
		return "***", 0
	}
	r.cont = lit
	s := string(line)
	tag, rest, _ := strings.Cut(s, " ")
	name, args, _ := strings.Cut(rest, " ")
	switch strings.ToUpper(name) {
	case "LOGIN":
		r.login = lit
		user, more := firstArg(args)
		if user == "" || strings.HasPrefix(user, "{") {
			return tag + " " + name + " ***", n
		}
		if more == "" && !lit {
			return tag + " " + name + " " + user, n
		}
		return tag + " " + name + " " + user + " ***", n
	case "AUTHENTICATE":
		r.authTag = tag
		if mech, _, ir := strings.Cut(args, " "); ir {
			return tag + " " + name + " " + mech + " ***", n
		}
	}
	return s, n
}

func (r *imapRedactor) Server(line []byte) (string, int64) {
	s := string(line)
	if r.authTag != "" && (strings.HasPrefix(s, r.authTag+" ") || strings.HasPrefix(s, "* BYE")) {
		r.authTag = ""
	}
	n, _ := literalAtEnd(line)
	return s, n
}

// firstArg splits an atom or a quoted string off s; a literal is
// returned as its announcement.
func firstArg(s string) (arg, rest string) {
	if strings.HasPrefix(s, `"`) {
		for i := 1; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++
			case '"':
				return s[:i+1], strings.TrimPrefix(s[i+1:], " ")
			}
		}
		return s, ""
	}
	arg, rest, _ = strings.Cut(s, " ")
	return arg, rest
}

// literalAtEnd reads the announcement of a literal that ends a line,
// "{N}", "{N+}", "{N-}" or with "~" before (RFC 9051 §4.3, RFC 7888,
// RFC 3516), and returns N.
func literalAtEnd(line []byte) (int64, bool) {
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false
	}
	open := bytes.LastIndexByte(line, '{')
	if open < 0 {
		return 0, false
	}
	digits := line[open+1 : len(line)-1]
	if k := len(digits); k > 0 && (digits[k-1] == '+' || digits[k-1] == '-') {
		digits = digits[:k-1]
	}
	n, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil || n < 0 || len(digits) == 0 || digits[0] == '+' || digits[0] == '-' {
		return 0, false
	}
	return n, true
}
