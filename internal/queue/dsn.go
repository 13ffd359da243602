package queue

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"postel/internal/store"
)

// Bounds of what a DSN returns of the original message.
const (
	maxDSNHeaders = 256 << 10 // the header block
	maxDSNFull    = 10 << 20  // the whole message (RET=FULL); larger ones get their headers
)

// Actions of a DSN (RFC 3464 §2.3.3). "delivered" is the final MTA's to
// report; a queue relaying onward reports "relayed" at most.
const (
	actionFailed  = "failed"
	actionDelayed = "delayed"
	actionRelayed = "relayed"
)

// dsnRcpt is one recipient reported in a DSN.
type dsnRcpt struct {
	rcpt   store.QueueRcpt
	action string
	reply  reply
}

// dsn is a delivery status notification to write: one action for all its
// recipients (failure, delay and relay reports are separate messages).
type dsn struct {
	hostname   string // the reporting MTA
	sender     string // the original envelope sender, who gets the DSN
	envID      string // RFC 3461 ENVID
	arrival    time.Time
	now        time.Time
	retryUntil time.Time // delayed: when retries end
	action     string
	full       bool // return the whole message (RET=FULL on failure)
	utf8       bool // SMTPUTF8 message: the RFC 6533 "global" types
	rcpts      []dsnRcpt
	boundary   string
	messageID  string
}

// randomToken is 24 hex digits from crypto/rand.
func randomToken() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// write composes the DSN: a multipart/report (RFC 6522) of a human-readable
// part, a message/delivery-status part (RFC 3464 §2) and the original
// message or its header block (RFC 3461 §4.3: RET=FULL or HDRS).
func (d *dsn) write(w io.Writer, orig io.ReaderAt, size int64) error {
	hdrs := originalHeaders(orig, size)
	full := d.full && d.action == actionFailed && size <= maxDSNFull
	// RFC 2046 §5.1.1: the boundary must not occur in the parts; it is
	// random, and checked against what is in memory.
	for i := 0; i < 8 && (d.boundary == "" || bytes.Contains(hdrs, []byte("--"+d.boundary))); i++ {
		d.boundary = "=_" + randomToken()
	}
	if d.messageID == "" {
		d.messageID = "<dsn." + randomToken() + "@" + d.hostname + ">"
	}
	statusType, origType := "delivery-status", "text/rfc822-headers"
	switch {
	case d.utf8 && full:
		statusType, origType = "global-delivery-status", "message/global" // RFC 6533 §3, §6
	case d.utf8:
		statusType, origType = "global-delivery-status", "message/global-headers"
	case full:
		origType = "message/rfc822"
	}

	bw := bufio.NewWriter(w)
	put := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	put("From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", d.hostname)
	put("To: <%s>\r\n", d.value(d.sender))
	put("Subject: %s\r\n", d.subject())
	put("Date: %s\r\n", d.now.Format(time.RFC1123Z))
	put("Message-ID: %s\r\n", d.messageID)
	// RFC 3834 §5: an automatic response, never to be answered automatically.
	put("Auto-Submitted: auto-replied\r\n")
	put("MIME-Version: 1.0\r\n")
	put("Content-Type: multipart/report; report-type=%s;\r\n\tboundary=\"%s\"\r\n", statusType, d.boundary)
	put("\r\nThis is a delivery status notification in MIME format.\r\n")

	text := d.text()
	put("\r\n--%s\r\n", d.boundary)
	put("Content-Type: text/plain; charset=utf-8\r\n")
	put("Content-Transfer-Encoding: %s\r\n\r\n", transferEncoding(text))
	put("%s", text)

	put("\r\n--%s\r\n", d.boundary)
	put("Content-Type: message/%s\r\n", statusType)
	if d.utf8 {
		put("Content-Transfer-Encoding: 8bit\r\n")
	}
	put("\r\n")
	d.writeStatus(bw)

	put("\r\n--%s\r\n", d.boundary)
	put("Content-Type: %s\r\n", origType)
	if full {
		put("Content-Transfer-Encoding: 8bit\r\n\r\n")
		if _, err := io.Copy(bw, io.NewSectionReader(orig, 0, size)); err != nil {
			return fmt.Errorf("queue: reading the original message: %w", err)
		}
	} else {
		put("Content-Transfer-Encoding: %s\r\n\r\n", transferEncoding(string(hdrs)))
		bw.Write(hdrs)
	}
	put("\r\n--%s--\r\n", d.boundary)
	return bw.Flush()
}

func (d *dsn) subject() string {
	switch d.action {
	case actionFailed:
		return "Undelivered Mail Returned to Sender"
	case actionDelayed:
		return "Delayed Mail (still being retried)"
	}
	return "Successful Mail Delivery Report"
}

// text is the human-readable part (RFC 3464 §1.2 wants it first).
func (d *dsn) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "This is the mail system at %s.\r\n\r\n", d.hostname)
	switch d.action {
	case actionFailed:
		b.WriteString("Your message could not be delivered to the recipients below.\r\n")
	case actionDelayed:
		fmt.Fprintf(&b, "Your message has not yet been delivered to the recipients below. Delivery\r\n"+
			"will be tried again until %s; you need not send it again.\r\n", d.retryUntil.Format(time.RFC1123Z))
	default: // relayed
		b.WriteString("Your message was passed on to the recipients' mail servers below, which\r\n" +
			"do not report delivery.\r\n")
	}
	for _, r := range d.rcpts {
		fmt.Fprintf(&b, "\r\n<%s>: %s\r\n", d.value(r.rcpt.Address), r.reply.String())
	}
	return b.String()
}

// writeStatus writes the message/delivery-status fields (RFC 3464 §2.2,
// §2.3).
func (d *dsn) writeStatus(w *bufio.Writer) {
	fmt.Fprintf(w, "Reporting-MTA: dns; %s\r\n", d.hostname)
	if v := d.value(d.envID); v != "" {
		fmt.Fprintf(w, "Original-Envelope-Id: %s\r\n", v)
	}
	fmt.Fprintf(w, "Arrival-Date: %s\r\n", d.arrival.Format(time.RFC1123Z))
	for _, r := range d.rcpts {
		w.WriteString("\r\n")
		if typ, addr, ok := strings.Cut(r.rcpt.ORcpt, ";"); ok && addr != "" {
			fmt.Fprintf(w, "Original-Recipient: %s;%s\r\n", d.value(strings.TrimSpace(typ)), d.value(addr))
		}
		addrType := "rfc822"
		if !printableASCII(r.rcpt.Address) && d.utf8 {
			addrType = "utf-8" // RFC 6533 §3
		}
		fmt.Fprintf(w, "Final-Recipient: %s; %s\r\n", addrType, d.value(r.rcpt.Address))
		fmt.Fprintf(w, "Action: %s\r\n", r.action)
		fmt.Fprintf(w, "Status: %s\r\n", r.reply.status)
		if r.reply.mta != "" {
			fmt.Fprintf(w, "Remote-MTA: dns; %s\r\n", d.value(r.reply.mta))
			fmt.Fprintf(w, "Diagnostic-Code: smtp; %s\r\n", r.reply.diagnostic())
		} else if r.reply.text != "" {
			// A private diagnostic type (RFC 3464 §2.3.6) for failures of
			// our own.
			fmt.Fprintf(w, "Diagnostic-Code: X-Postel; %s\r\n", r.reply.text)
		}
		fmt.Fprintf(w, "Last-Attempt-Date: %s\r\n", d.now.Format(time.RFC1123Z))
		if r.action == actionDelayed {
			fmt.Fprintf(w, "Will-Retry-Until: %s\r\n", d.retryUntil.Format(time.RFC1123Z))
		}
	}
}

// value makes s safe as a header field value: no line breaks or control
// characters, and ASCII only unless the DSN is an SMTPUTF8 one.
func (d *dsn) value(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c < ' ' || c == 0x7f:
			continue
		case c > 0x7f && !d.utf8:
			c = '?'
		}
		b.WriteRune(c)
		if b.Len() >= maxReplyText {
			break
		}
	}
	return b.String()
}

// transferEncoding is the Content-Transfer-Encoding of text: 7bit when it
// is ASCII (RFC 2045 §2.7).
func transferEncoding(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] > 0x7f {
			return "8bit"
		}
	}
	return "7bit"
}

// originalHeaders returns the header block of the message (at most
// maxDSNHeaders, in whole lines) with CRLF line ends, without the empty
// line that ends it.
func originalHeaders(orig io.ReaderAt, size int64) []byte {
	r := bufio.NewReader(io.NewSectionReader(orig, 0, min(size, maxDSNHeaders)))
	var out bytes.Buffer
	for {
		line, err := r.ReadString('\n')
		if !strings.HasSuffix(line, "\n") && (err == nil || size > maxDSNHeaders) {
			break // cut by the bound: leave the partial line out
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		// A lone CR would end the line for some readers: drop it.
		out.WriteString(strings.ReplaceAll(line, "\r", ""))
		out.WriteString("\r\n")
		if err != nil {
			break
		}
	}
	return out.Bytes()
}
