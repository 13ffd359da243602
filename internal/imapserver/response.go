package imapserver

import (
	"errors"

	"postel/internal/store"
)

// response is the value a command handler returns: the status, response
// code and text of its tagged response (RFC 9051 §7.1). A handler returns
// nil for a plain "OK"; a *response with Status "OK" carries a code (such
// as APPENDUID); "NO" and "BAD" are refusals. Any other error is a server
// fault: the client gets noInternal and the log gets the error.
type response struct {
	Status string // OK, NO, BAD
	Code   string // response code without brackets, "" for none
	Text   string // safe to send: never the text of an internal error
}

func (r *response) Error() string {
	if r.Code != "" {
		return r.Status + " [" + r.Code + "] " + r.Text
	}
	return r.Status + " " + r.Text
}

func okCode(code, text string) *response { return &response{Status: "OK", Code: code, Text: text} }
func no(code, text string) *response     { return &response{Status: "NO", Code: code, Text: text} }
func bad(text string) *response          { return &response{Status: "BAD", Text: text} }

// Response codes (RFC 9051 §7.1, RFC 5530 and the extensions), named once.
const (
	codeAlreadyExists   = "ALREADYEXISTS" // RFC 9051 §7.1
	codeAuthFailed      = "AUTHENTICATIONFAILED"
	codeAuthzFailed     = "AUTHORIZATIONFAILED"         // RFC 5530 §3
	codeBadCharset      = "BADCHARSET (UTF-8 US-ASCII)" // RFC 9051 §6.4.4
	codeCannot          = "CANNOT"
	codeClosed          = "CLOSED"            // RFC 9051 §7.1 (and RFC 7162 §3.2.11)
	codeCompressActive  = "COMPRESSIONACTIVE" // RFC 4978 §3
	codeExpungeIssued   = "EXPUNGEISSUED"
	codeHasChildren     = "HASCHILDREN" // RFC 9051 §7.1
	codeInUse           = "INUSE"
	codeLimit           = "LIMIT"
	codeMetadataTooMany = "METADATA TOOMANY" // RFC 5464 §4.3
	codeNonExistent     = "NONEXISTENT"
	codeNoPerm          = "NOPERM"
	codeOverQuota       = "OVERQUOTA"
	codePrivacyRequired = "PRIVACYREQUIRED"
	codeReadOnly        = "READ-ONLY"
	codeReadWrite       = "READ-WRITE"
	codeServerBug       = "SERVERBUG"
	codeTryCreate       = "TRYCREATE"
	codeUnavailable     = "UNAVAILABLE"
	codeUnknownCTE      = "UNKNOWN-CTE" // RFC 3516 §4.3
	codeUseAttr         = "USEATTR"     // RFC 6154 §3
)

// Refusals used in several places.
var (
	noInternal   = no(codeServerBug, "Internal server error, try again later")
	noStoreDown  = no(codeUnavailable, "Mail store unavailable, try again later")
	noDiskFull   = no(codeUnavailable, "Server storage is full, try again later")
	noReadOnly   = no(codeReadOnly, "Mailbox is selected read-only")
	noNoMailbox  = no(codeNonExistent, "No such mailbox")
	noTryCreate  = no(codeTryCreate, "No such mailbox")
	noOverQuota  = no(codeOverQuota, "Quota exceeded")
	badState     = bad("Command not allowed in this state")
	badNoMailbox = bad("No mailbox selected")
)

// mailboxErr maps a store error about a mailbox to the response a client
// gets, or returns err unchanged when it is a server fault.
func mailboxErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return noNoMailbox
	case errors.Is(err, store.ErrExists):
		return no(codeAlreadyExists, "Mailbox already exists")
	case errors.Is(err, store.ErrQuota):
		return noOverQuota
	case errors.Is(err, store.ErrInUse):
		return no(codeInUse, "Mailbox in use, try again later")
	case errors.Is(err, store.ErrInvalid):
		return no(codeCannot, "Invalid mailbox name")
	}
	return err
}
