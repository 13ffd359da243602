package pop3server

import (
	"fmt"
	"strings"

	"postel/internal/trace"
)

// pop3Redactor shows a POP3 dialogue (internal/trace) without PASS's
// password, APOP's digest, AUTH's initial response and exchange, and
// without the messages of RETR and TOP, of which only the size is shown.
//
// POP3 replies do not say which command they answer: the redactor queues
// what each command the client sent expects (RFC 2449 §6.6 lets clients
// pipeline), and takes one at each reply that is not a SASL challenge.
type pop3Redactor struct {
	expect []replyKind // what the replies awaited are, oldest first
	auth   bool        // a SASL exchange runs: the client's lines are credentials
	multi  bool        // in the lines of a multi-line reply
	secret bool        // ... of a message: not shown
	octets int64       // of the message so far
}

// replyKind is what a command's reply is.
type replyKind int

const (
	single      replyKind = iota // one line
	multiLine                    // lines until ".", shown (CAPA, LIST, UIDL)
	messageBody                  // lines until ".", hidden (RETR, TOP)
)

func newPOP3Redactor() trace.Redactor { return &pop3Redactor{} }

func (r *pop3Redactor) Client(line []byte) (string, int64) {
	if r.auth {
		if string(line) == "*" { // RFC 5034 §4: the client cancels
			return "*", 0
		}
		return "***", 0
	}
	s := string(line)
	verb, args, _ := strings.Cut(s, " ")
	kind, shown := single, s
	switch strings.ToUpper(verb) {
	case "PASS":
		shown = verb + " ***"
	case "APOP":
		name, _, _ := strings.Cut(args, " ")
		shown = verb + " " + name + " ***"
	case "AUTH":
		if strings.TrimSpace(args) == "" {
			kind = multiLine // the mechanisms (RFC 1734 clients)
			break
		}
		r.auth = true
		if mech, _, ir := strings.Cut(strings.TrimSpace(args), " "); ir {
			shown = verb + " " + mech + " ***"
		}
	case "RETR", "TOP":
		kind = messageBody
	case "CAPA":
		kind = multiLine
	case "LIST", "UIDL":
		if strings.TrimSpace(args) == "" {
			kind = multiLine
		}
	}
	r.expect = append(r.expect, kind)
	return shown, 0
}

func (r *pop3Redactor) Server(line []byte) (string, int64) {
	s := string(line)
	if r.multi {
		if s == "." {
			r.multi = false
			if r.secret {
				r.secret = false
				n := r.octets
				r.octets = 0
				return fmt.Sprintf("[message: %d octets] .", n), 0
			}
			return s, 0
		}
		if r.secret {
			r.octets += int64(len(line)) + 2
			return "", 0
		}
		return s, 0
	}
	if r.auth && strings.HasPrefix(s, "+") && !strings.HasPrefix(s, "+OK") {
		return s, 0 // a challenge
	}
	r.auth = false
	kind := single
	if len(r.expect) > 0 {
		kind = r.expect[0]
		r.expect = r.expect[1:]
	}
	if strings.HasPrefix(s, "+OK") && kind != single {
		r.multi, r.secret = true, kind == messageBody
	}
	return s, 0
}
