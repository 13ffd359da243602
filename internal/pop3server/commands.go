package pop3server

import (
	"strconv"
	"strings"
)

// state is a session state of RFC 1939 §3.
type state int

const (
	stateAuthorization state = iota
	stateTransaction
	// stateUpdate is entered by QUIT in the TRANSACTION state; no command
	// is valid in it: the session expunges, replies and ends.
	stateUpdate
)

// states is a set of session states.
type states uint8

const (
	inAuthorization states = 1 << stateAuthorization
	inTransaction   states = 1 << stateTransaction
	inBoth                 = inAuthorization | inTransaction
)

// command is one entry of the command table.
type command struct {
	states states // the states it is valid in
	run    func(s *session, args string) error
}

// commands is the command table: every command Postel serves and the states
// it is valid in (RFC 1939 §4-§7, CAPA RFC 2449 §5, STLS RFC 2595 §4, AUTH
// RFC 5034 §4, UTF8 RFC 6856 §2). APOP (RFC 1939 §7) is not offered: it
// needs the password in the clear on the server.
var commands = map[string]command{
	"CAPA": {inBoth, (*session).cmdCapa},
	"QUIT": {inBoth, (*session).cmdQuit},

	"STLS": {inAuthorization, (*session).cmdStls},
	"USER": {inAuthorization, (*session).cmdUser},
	"PASS": {inAuthorization, (*session).cmdPass},
	"AUTH": {inAuthorization, (*session).cmdAuth},
	"UTF8": {inAuthorization, (*session).cmdUTF8},

	"STAT": {inTransaction, (*session).cmdStat},
	"LIST": {inTransaction, (*session).cmdList},
	"RETR": {inTransaction, (*session).cmdRetr},
	"DELE": {inTransaction, (*session).cmdDele},
	"NOOP": {inTransaction, (*session).cmdNoop},
	"RSET": {inTransaction, (*session).cmdRset},
	"TOP":  {inTransaction, (*session).cmdTop},
	"UIDL": {inTransaction, (*session).cmdUidl},
}

// httpMethods start the request line of HTTP: a web page making a browser
// talk to the POP3 port (a cross-protocol attack). None is a POP3 command.
var httpMethods = map[string]bool{
	"GET": true, "HEAD": true, "POST": true, "PUT": true, "DELETE": true,
	"CONNECT": true, "OPTIONS": true, "TRACE": true, "PATCH": true,
}

// Line bounds, with the line end.
const (
	// maxCommandLine: RFC 2449 §4 bounds commands to 255 octets; we
	// accept twice that for sloppy clients, which is also RFC 1939's
	// bound on responses.
	maxCommandLine = 512
	// maxSASLLine bounds a client's SASL response (RFC 5034 §4 sets no
	// bound): twice the base64 of the longest PLAIN message internal/auth
	// accepts.
	maxSASLLine = 4096
)

// parseCommand splits a command line (without its line end) into its
// keyword, upper-cased, and its arguments: everything after the first
// space, untouched, since PASS takes the rest of the line (RFC 1939 §7).
// RFC 1939 §3: keywords are case-insensitive, 3 or 4 printable characters;
// we take 1 to 8 ASCII letters or digits, so that unknown keywords get
// "Unknown command" and anything else "Syntax error".
func parseCommand(line string) (keyword, args string, err error) {
	keyword, args, _ = strings.Cut(line, " ")
	if keyword == "" || len(keyword) > 8 || strings.IndexByte(line, 0) >= 0 {
		return "", "", errSyntax
	}
	for i := 0; i < len(keyword); i++ {
		if c := keyword[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return "", "", errSyntax
		}
	}
	return strings.ToUpper(keyword), args, nil
}

// parseNumber parses a message number or a line count: decimal digits
// only (no sign), at most 10 of them, fitting in 32 bits.
func parseNumber(s string) (int64, bool) {
	if s == "" || len(s) > 10 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, false
	}
	return int64(n), true
}

// loginAllowed reports whether a password or SASL exchange may be sent:
// over TLS, or from loopback when the configuration allows plaintext there.
func (s *session) loginAllowed() bool {
	return s.tls || (s.srv.cfg.AllowPlaintextLoopback && s.remote.IsLoopback())
}

// capabilities lists what the session may use now (RFC 2449 §6; the list
// differs before and after login, which §5 allows).
func (s *session) capabilities() []string {
	caps := []string{"TOP", "UIDL", "RESP-CODES", "PIPELINING", "EXPIRE NEVER"}
	if s.state == stateAuthorization {
		caps = append(caps, "AUTH-RESP-CODE") // RFC 3206 §6
		if s.srv.tls != nil && !s.tls {
			caps = append(caps, "STLS")
		}
		if s.loginAllowed() {
			caps = append(caps, "USER", "SASL "+strings.Join(s.srv.authn.Mechanisms(), " "))
			// RFC 6856 §2: "USER" says that USER and PASS take UTF-8,
			// which internal/auth accepts.
			caps = append(caps, "UTF8 USER")
		} else {
			caps = append(caps, "UTF8")
		}
	}
	return append(caps, "IMPLEMENTATION Postel")
}
