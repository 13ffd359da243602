package pop3server

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"postel/internal/netserve"
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

// The session states as sets.
var (
	inAuthorization = netserve.In(int(stateAuthorization))
	inTransaction   = netserve.In(int(stateTransaction))
	inBoth          = netserve.In(int(stateAuthorization), int(stateTransaction))
)

// command is one entry of the command table: the states it is valid in,
// its handler (which parses its own arguments: POP3 commands take at most
// two words, and PASS the rest of the line), and the CAPA tags its code
// serves (RFC 2449 §6), listed in the states the command is valid in.
type command struct {
	states netserve.States
	run    func(s *session, args string) error
	capa   func(s *session) []string
}

// tags is a capa function for fixed tags.
func tags(t ...string) func(*session) []string { return func(*session) []string { return t } }

// commands is the command table: every command Postel serves and the states
// it is valid in (RFC 1939 §4-§7, CAPA RFC 2449 §5, STLS RFC 2595 §4, AUTH
// RFC 5034 §4, UTF8 RFC 6856 §2). APOP (RFC 1939 §7) is not offered: it
// needs the password in the clear on the server. Filled in init, since a
// handler (CAPA) reads it.
var commands map[string]command

func init() {
	commands = map[string]command{
		"CAPA": {states: inBoth, run: (*session).cmdCapa},
		"QUIT": {states: inBoth, run: (*session).cmdQuit},

		"STLS": {states: inAuthorization, run: (*session).cmdStls, capa: func(s *session) []string {
			if s.srv.tls != nil && !s.tls {
				return []string{"STLS"}
			}
			return nil
		}},
		"USER": {states: inAuthorization, run: (*session).cmdUser, capa: func(s *session) []string {
			if s.loginAllowed() {
				return []string{"USER"}
			}
			return nil
		}},
		"PASS": {states: inAuthorization, run: (*session).cmdPass},
		"AUTH": {states: inAuthorization, run: (*session).cmdAuth, capa: func(s *session) []string {
			if s.loginAllowed() {
				return []string{"SASL " + strings.Join(s.srv.authn.Mechanisms(), " ")}
			}
			return nil
		}},
		"UTF8": {states: inAuthorization, run: (*session).cmdUTF8, capa: func(s *session) []string {
			if s.loginAllowed() {
				// RFC 6856 §2: "USER" says that USER and PASS take
				// UTF-8, which internal/auth accepts.
				return []string{"UTF8 USER"}
			}
			return []string{"UTF8"}
		}},

		"STAT": {states: inTransaction, run: (*session).cmdStat},
		"LIST": {states: inTransaction, run: (*session).cmdList},
		"RETR": {states: inTransaction, run: (*session).cmdRetr},
		"DELE": {states: inTransaction, run: (*session).cmdDele},
		"NOOP": {states: inTransaction, run: (*session).cmdNoop},
		"RSET": {states: inTransaction, run: (*session).cmdRset},
		// TOP and UIDL are listed in both states: RFC 2449 §6.
		"TOP":  {states: inTransaction, run: (*session).cmdTop, capa: tags("TOP")},
		"UIDL": {states: inTransaction, run: (*session).cmdUidl, capa: tags("UIDL")},
	}
	commandNames = slices.Sorted(maps.Keys(commands))
}

// commandNames are the table's names in order, for a stable CAPA.
var commandNames []string

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
// differs before and after login, which §5 allows): the session's own
// (RESP-CODES, PIPELINING, EXPIRE, AUTH-RESP-CODE before login), then the
// tags of the commands valid now, from the table. TOP and UIDL are also
// listed before login, as their commands become valid then.
func (s *session) capabilities() []string {
	caps := []string{"RESP-CODES", "PIPELINING", "EXPIRE NEVER"}
	if s.state == stateAuthorization {
		caps = append(caps, "AUTH-RESP-CODE") // RFC 3206 §6
	}
	for _, name := range commandNames {
		c := commands[name]
		if c.capa != nil && (c.states.Has(int(s.state)) || c.states.Has(int(stateTransaction))) {
			caps = append(caps, c.capa(s)...)
		}
	}
	return append(caps, "IMPLEMENTATION Postel")
}
