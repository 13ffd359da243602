package pop3server

import (
	"errors"
	"fmt"

	"postel/internal/netserve"
)

// Response codes (RFC 2449 §8, RFC 3206), named once. They go in brackets
// right after "-ERR".
const (
	// codeInUse: the maildrop is held by another session (RFC 2449 §8.1.1).
	codeInUse = "IN-USE"
	// codeAuth: the credentials are at fault; the client should ask the
	// user (RFC 3206 §5).
	codeAuth = "AUTH"
	// codeSysTemp: a temporary problem on the server; the client may try
	// again later (RFC 3206 §4).
	codeSysTemp = "SYS/TEMP"
	// codeSysPerm: a problem on the server that trying again will not
	// solve (RFC 3206 §4).
	codeSysPerm = "SYS/PERM"
)

// reply is a refusal: the "-ERR" line a command gets (RFC 1939 §3), with
// its response code. Command handlers return a *reply for refusals; any
// other error is a server fault, answered with errInternal and logged.
type reply struct {
	code string // response code without brackets, "" for none
	text string // safe to send: never the text of an internal error
	// count: the client is at fault (unknown or malformed command, wrong
	// state, failed login); such refusals count toward MaxCommandErrors.
	count bool
	// close: the session ends after this reply (a line too long to read
	// to its end, after which the input cannot be trusted).
	close bool
}

func (r *reply) Error() string { return r.line() }

// line is the reply as sent, without CRLF.
func (r *reply) line() string {
	if r.code != "" {
		return "-ERR [" + r.code + "] " + r.text
	}
	return "-ERR " + r.text
}

// refuse is a refusal that is nobody's fault, such as "no such message".
func refuse(format string, args ...any) *reply {
	return &reply{text: fmt.Sprintf(format, args...)}
}

// clientErr is a refusal for a client's mistake; it counts toward
// MaxCommandErrors.
func clientErr(text string) *reply { return &reply{text: text, count: true} }

// Refusals used in several places.
var (
	errUnknown     = clientErr("Unknown command")
	errState       = clientErr("Command not valid in this state")
	errSyntax      = clientErr("Syntax error")
	errLineTooLong = &reply{text: "Line too long", count: true, close: true}
	errInternal    = &reply{code: codeSysTemp, text: "Internal server error, try again later"}
	errShutdown    = &reply{code: codeSysTemp, text: "Server shutting down"}
	// errEvicted ends an idle unauthenticated session dropped to admit a
	// new connection (netserve.Limits.MaxUnauth).
	errEvicted = &reply{code: codeSysTemp, text: "Too many connections, closing this idle one"}
	// errTLSRequired refuses a password or SASL exchange in the clear
	// (RFC 2595 §2.2: a server may refuse to authenticate before TLS).
	errTLSRequired = &reply{code: codeAuth, text: "Authentication requires TLS: use STLS first", count: true}
)

// errQuit is returned by QUIT after writing its reply: the session ends.
var errQuit = errors.New("quit")

// abort ends the session without a reply: a multi-line response was cut
// (the message could not be read to its end), so the client could not
// tell it from a complete one if the session went on.
func abort(err error) error { return netserve.ErrAbort{Err: err} }
