package smtpserver

import "github.com/emersion/go-smtp"

// reply builds the error value that carries an SMTP reply: code, enhanced
// status code (RFC 3463) and text. go-smtp writes it as is.
func reply(code int, class, subject, detail int, text string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{class, subject, detail}, Message: text}
}

// The replies Postel's SMTP policy gives, named once (RFC 5321 §4.2.3 reply
// codes, RFC 3463 / RFC 5248 enhanced status codes).
var (
	// Connection level (RFC 5321 §3.8: 421 closes the connection).
	errShuttingDown  = reply(421, 4, 3, 2, "Service shutting down, try again later")
	errTooManyErrors = reply(421, 4, 7, 0, "Too many errors, closing connection")
	errDataTimeout   = reply(421, 4, 4, 2, "Timeout reading message data, closing connection")
	errTimeout       = reply(421, 4, 4, 2, "Timeout waiting for a command, closing connection")
	errEvicted       = reply(421, 4, 7, 0, "Too many connections, closing this idle one")

	// Refused at the greeting (RFC 5321 §3.1: 554 instead of 220): the
	// client talked before it (§4.3.1), as no SMTP client may.
	errEarlyTalker = reply(554, 5, 5, 1, "Protocol error: talking before the greeting (RFC 5321 §4.3.1)")

	// Port 25's per-source rates: try again later.
	errMessageRate = reply(450, 4, 7, 1, "Too many messages from your address, try again later")
	errRcptRate    = reply(450, 4, 7, 1, "Too many recipients from your address, try again later")

	// Server faults: the client should retry later; details go to the log.
	errInternal = reply(451, 4, 3, 0, "Internal server error, try again later")

	// Envelope.
	errAuthRequired   = reply(530, 5, 7, 0, "Authentication required")
	errTLSRequired    = reply(530, 5, 7, 10, "REQUIRETLS needs a TLS connection (RFC 8689 §4.1)")
	errNullSender     = reply(550, 5, 7, 1, "Null sender not allowed for submission")
	errSenderDenied   = reply(550, 5, 7, 1, "Not allowed to send as this address")
	errBadAddress     = reply(501, 5, 1, 3, "Malformed address")
	errRelayDenied    = reply(554, 5, 7, 1, "Relay access denied")
	errNoSuchUser     = reply(550, 5, 1, 1, "No such user here")
	errSRSBounceOnly  = reply(550, 5, 7, 1, "This address only takes delivery status notifications (null sender)")
	errQuotaFull      = reply(452, 4, 2, 2, "Mailbox full, try again later")
	errDailyLimit     = reply(450, 4, 7, 1, "Daily sending limit reached, try again later")
	errAuthNotAllowed = reply(538, 5, 7, 11, "Encryption required for requested authentication mechanism (RFC 4954 §6)")

	// Authentication (RFC 4954 §6).
	errAuthFailed    = reply(535, 5, 7, 8, "Authentication credentials invalid")
	errAuthThrottled = reply(454, 4, 7, 0, "Too many failed attempts, try again later")
	errAuthMalformed = reply(501, 5, 5, 2, "Malformed authentication exchange")
	errAuthMech      = reply(504, 5, 5, 4, "Unsupported authentication mechanism")
	errAuthTemporary = reply(454, 4, 7, 0, "Temporary authentication failure")

	// Message content.
	errBareLineEnding = reply(550, 5, 6, 0, "Bare CR or LF in message content is not allowed (RFC 5321 §2.3.8)")
	errLineTooLong    = reply(500, 5, 5, 2, "Line too long (RFC 5321 §4.5.3.1.6)")
	errHeaderTooLarge = reply(552, 5, 3, 4, "Message header too large")
	errManyFroms      = reply(550, 5, 6, 0, "Message has more than one From header field (RFC 5322 §3.6)")
	errBadFrom        = reply(550, 5, 6, 0, "Unparsable From, Sender or Resent-From header field")
	errFromDenied     = reply(550, 5, 7, 1, "Not allowed to send as an address in From, Sender or Resent-From")
	errBadHeader      = reply(550, 5, 6, 0, "Malformed message header")
)
