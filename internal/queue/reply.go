package queue

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"
)

// maxReplyText bounds the reply text kept per recipient and put into DSNs.
const maxReplyText = 512

// reply is the outcome of an attempt for one recipient: the reply of a
// remote server, or one Postel made for a failure of its own (connection
// refused, DNS failure, TLS policy). It is kept as QueueRcpt.LastReply in
// the form String gives and parseReply reads back.
type reply struct {
	code   int    // SMTP reply code (RFC 5321 §4.2.1)
	status string // enhanced status code (RFC 3463), "4.4.1"
	text   string // one line of printable ASCII
	mta    string // the remote MTA that gave the reply; "" for ours
}

// Replies Postel makes, each with its RFC 3463 / RFC 5248 enhanced code.
func replyNoSuchDomain(domain string) reply {
	return reply{code: 550, status: "5.1.2", text: "domain " + domain + " does not exist"} // bad destination system address
}
func replyNullMX(domain string) reply {
	return reply{code: 556, status: "5.1.10", text: "domain " + domain + " accepts no mail (null MX, RFC 7505)"}
}
func replyNoRoute(text string) reply {
	return reply{code: 550, status: "5.4.4", text: text} // unable to route
}
func replyLoop(domain string) reply {
	return reply{code: 554, status: "5.4.6", text: "MX of " + domain + " points back to this host"} // routing loop
}
func replyDNS(err error) reply {
	return reply{code: 451, status: "4.4.3", text: "DNS lookup failed: " + err.Error()} // directory server failure
}
func replyConnect(host string, err error) reply {
	return reply{code: 451, status: "4.4.1", text: "cannot connect to " + host + ": " + err.Error()} // no answer from host
}
func replyConnLost(host string, err error) reply {
	return reply{code: 451, status: "4.4.2", text: "connection to " + host + " failed: " + err.Error()} // bad connection
}
func replyTLS(host string, err error) reply {
	return reply{code: 451, status: "4.7.5", text: "TLS with " + host + " failed: " + err.Error()} // cryptographic failure
}
func replyTLSNeeded(host, why string) reply {
	return reply{code: 451, status: "4.7.10", text: host + " does not offer STARTTLS, required by " + why} // encryption needed
}
func replyRequireTLS(why string) reply {
	return reply{code: 550, status: "5.7.30", text: "REQUIRETLS support required: " + why} // RFC 8689
}
func replyNeedsUTF8(host string) reply {
	return reply{code: 553, status: "5.6.7", text: host + " does not support SMTPUTF8, needed by the addresses (RFC 6531 §3.2)"}
}
func replyNeeds8Bit(host string) reply {
	return reply{code: 554, status: "5.6.3", text: host + " does not support 8BITMIME, needed by the message (RFC 6152 §3)"}
}
func replyTooBig(host string, max int) reply {
	return reply{code: 552, status: "5.3.4", text: host + " accepts messages up to " + strconv.Itoa(max) + " bytes (RFC 1870)"}
}
func replyLocal(text string) reply {
	return reply{code: 451, status: "4.3.0", text: text}
}
func replyExpired(last reply) reply {
	if last.code == 0 {
		return reply{code: 451, status: "4.4.7", text: "delivery time expired"}
	}
	return last
}

// remoteReply turns an error of the SMTP client into a reply: the server's
// own when it sent one, else a lost connection.
func remoteReply(mta string, err error) reply {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		return replyConnLost(mta, err)
	}
	r := reply{code: se.Code, text: clean(se.Message), mta: mta}
	switch {
	case se.EnhancedCode != (smtp.EnhancedCode{}) && se.EnhancedCode != smtp.NoEnhancedCode:
		if se.EnhancedCode[0] == se.Code/100 {
			r.status = fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
		}
	default:
		// Not parsed yet: RFC 2034 §4 puts it first in the text.
		if status, rest, _ := strings.Cut(r.text, " "); validStatus(status) && int(status[0]-'0') == se.Code/100 {
			r.status, r.text = status, rest
		}
	}
	return r.normalized()
}

// okReply is the reply of a server that accepted the message; go-smtp
// leaves the enhanced code in its text.
func okReply(mta, text string) reply {
	r := reply{code: 250, text: clean(text), mta: mta}
	if status, rest, _ := strings.Cut(r.text, " "); validStatus(status) && status[0] == '2' {
		r.status, r.text = status, rest
	}
	return r.normalized()
}

// normalized makes a reply final: a 2xx, 4xx or 5xx code (anything else
// counts as a temporary failure), and an enhanced status code of the same
// class, made from the reply code when the server gave none (RFC 3463
// §3.1: the class is the first digit).
func (r reply) normalized() reply {
	if c := r.code / 100; r.code < 200 || r.code > 599 || c == 3 {
		r.code = 451
	}
	if r.status == "" || r.status[0] != byte('0'+r.code/100) {
		r.status = fmt.Sprintf("%d.0.0", r.code/100)
	}
	return r
}

// permanent reports whether the reply is a permanent failure.
func (r reply) permanent() bool { return r.code >= 500 }

// diagnostic is the reply as the remote server sent it: code, enhanced
// code and text (the Diagnostic-Code of a DSN, RFC 3464 §2.3.6).
func (r reply) diagnostic() string {
	return strings.TrimSpace(strconv.Itoa(r.code) + " " + r.status + " " + r.text)
}

// text1 is the reply's enhanced status code and text, as the mail log
// shows it beside the code.
func (r reply) text1() string {
	return strings.TrimSpace(r.status + " " + r.text)
}

// String is the form kept in QueueRcpt.LastReply: "MTA said: CODE STATUS
// TEXT" for a remote reply, "CODE STATUS TEXT" for one of ours.
func (r reply) String() string {
	if r.mta != "" {
		return r.mta + " said: " + r.diagnostic()
	}
	return r.diagnostic()
}

// parseReply reads what String wrote. Anything else becomes a temporary
// local reply carrying the text.
func parseReply(s string) reply {
	s = strings.TrimSpace(s[:min(len(s), 4*maxReplyText)])
	var r reply
	if i := strings.Index(s, " said: "); i > 0 && !strings.ContainsAny(s[:i], " \t\r\n") {
		r.mta, s = clean(s[:i]), s[i+len(" said: "):]
	}
	code, rest, _ := strings.Cut(s, " ")
	n, err := strconv.Atoi(code)
	if err != nil || len(code) != 3 || n < 200 || n > 599 {
		return reply{code: 451, text: clean(s), mta: r.mta}.normalized()
	}
	r.code = n
	if status, text, _ := strings.Cut(rest, " "); validStatus(status) && status[0] == code[0] {
		r.status, r.text = status, clean(text)
	} else {
		r.text = clean(rest)
	}
	return r.normalized()
}

// validStatus checks the syntax of an enhanced status code (RFC 3463 §2:
// class "." subject "." detail, subject and detail of 1 to 3 digits).
func validStatus(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || !strings.ContainsAny(parts[0][:1], "245") {
		return false
	}
	for _, p := range parts[1:] {
		if len(p) < 1 || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// clean makes text safe to keep and to put in a header field: one line of
// printable ASCII, at most maxReplyText bytes.
func clean(s string) string {
	var b strings.Builder
	space := false
	for _, c := range s {
		if c == '\r' || c == '\n' || c == '\t' || c == ' ' {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		if c < ' ' || c > '~' {
			c = '?'
		}
		b.WriteRune(c)
		if b.Len() >= maxReplyText {
			break
		}
	}
	return b.String()
}
