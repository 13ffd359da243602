package smtpserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-smtp"

	"postel/internal/deliver"
	"postel/internal/maillog"
	"postel/internal/netserve"
	"postel/internal/store"
)

// maxHeaderBytes bounds the header block kept in memory to check it; on
// submission a longer header block is refused.
const maxHeaderBytes = 256 << 10

// Data receives the message (DATA, RFC 5321 §4.1.1.4, or BDAT chunks,
// RFC 3030), streams it into a spool file, and delivers it. The reply is
// positive only once the store has committed the message.
//
// DataTimeout bounds the whole transfer, not each read: a client sending a
// byte a second is cut when it passes (conn.startData).
//
// The mail log gets one line per recipient: delivered (with the mailbox)
// or queued (with the queue id), or refused with the reply the client got.
func (s *session) Data(r io.Reader) error {
	// The transaction as it is before the data: on BDAT's goroutine,
	// Logout may clear the session once the data has failed.
	rcpts, from, since := s.rcpts, s.from, s.mailAt
	s.refusal.Store(nil)
	err := s.data(r)
	var e *smtp.SMTPError
	if errors.As(err, &e) && e.Code >= 400 {
		reason := "message data not received"
		if p := s.refusal.Load(); p != nil {
			reason = *p
		}
		var delay time.Duration
		if !since.IsZero() {
			delay = time.Since(since)
		}
		for _, to := range rcpts {
			maillog.Record(s.log, s.srv.cfg.Metrics, maillog.Entry{From: from, To: to, Result: maillog.Refused,
				Code: e.Code, Reply: replyText(e), Reason: reason, Delay: delay})
		}
	}
	return err
}

func (s *session) data(r io.Reader) error {
	_, bdat := r.(*io.PipeReader)
	s.c.startData(s.srv.cfg.DataTimeout, bdat)
	src := s.dataSource(r)
	spool, err := s.srv.st.NewSpool()
	if err != nil {
		io.Copy(io.Discard, src)
		return s.internal("creating spool", err)
	}
	defer spool.Discard() // no-op once delivered
	body := &bodyChecker{dst: spool}
	if _, err := io.Copy(body, src); err != nil {
		return s.dataError(err)
	}
	if body.bare || body.prevCR {
		// RFC 5321 §2.3.8: CR and LF only as CRLF. Refusing bare ones closes
		// the "SMTP smuggling" hole, where servers disagree on the end of data.
		return s.reject(errBareLineEnding, "bare CR or LF in message data")
	}
	if body.err != nil {
		return s.internal("writing spool", body.err)
	}
	if err := spool.Finish(); err != nil {
		return s.internal("finishing spool", err)
	}

	ctx := s.srv.ctx
	hdr, err := s.inspect(ctx, body)
	if err != nil {
		return err
	}
	checked, err := s.checkMessage(ctx, spool)
	if err != nil {
		return err
	}
	stripped, err := s.stripForged(ctx, spool, body.hdr)
	if err != nil {
		return err
	}
	if stripped != spool {
		defer stripped.Discard() // no-op once delivered
		spool = stripped
	}
	filing, err := s.filing(ctx, checked, body.hdr)
	if err != nil {
		return err
	}
	now := time.Now()
	id := messageID(s.c.id, s.c.msgs.Add(1))
	returnPath, relayed, msgID := s.prefix(id, hdr, s.authResults(checked), now)
	in := deliver.Incoming{
		Spool:      spool,
		Prefix:     append([]byte(returnPath), relayed...),
		Local:      s.local,
		Filing:     filing,
		Remote:     s.remote,
		From:       s.from,
		DSNRet:     string(s.opts.Return),
		DSNEnvID:   s.opts.EnvelopeID,
		RequireTLS: s.opts.RequireTLS,
		SMTPUTF8:   s.opts.UTF8,
		Body8Bit:   s.opts.Body == "8BITMIME",
	}
	if s.id != nil {
		in.AccountID = s.id.AccountID
	}
	s.forwarding(&in, checked, relayed, spool)
	delivered, err := deliver.Deliver(ctx, s.srv.st, in)
	if errors.Is(err, store.ErrQuota) {
		return s.reject(errQuotaFull, "over quota at delivery")
	}
	if err != nil {
		return s.internal("delivering", err)
	}
	var queueID int64
	if len(delivered) > 0 {
		queueID = delivered[0].QueueID
	}
	if queueID != 0 && s.srv.cfg.Outbound != nil {
		s.srv.cfg.Outbound.Kick()
	}
	s.srv.metrics.Received()
	size := int64(len(in.Prefix)) + spool.Size()
	for _, a := range s.local {
		mailbox := filing[a.ID].Mailbox
		if mailbox == "" {
			mailbox = "INBOX"
		}
		s.mailLog(maillog.Entry{ID: id, MessageID: msgID, To: a.Address, Size: size, Result: maillog.Delivered, Mailbox: mailbox})
	}
	for _, rc := range s.remote {
		s.mailLog(maillog.Entry{ID: id, QueueID: queueID, MessageID: msgID, To: rc.Address, Size: size, Result: maillog.Queued})
	}
	return queuedReply(id)
}

// bodyChecker passes the message data to dst, checking that every CR and LF
// belongs to a CRLF pair, and keeps a copy of the header block. It never
// fails a write, so that the data is always read to its end; the first
// error of dst is kept in err and writing stops.
type bodyChecker struct {
	dst    io.Writer
	err    error
	bare   bool // a bare CR or LF was seen
	prevCR bool // the last byte was CR

	hdr     []byte // the header block up to and including the empty line
	hdrDone bool   // the empty line ending the header block was seen
	hdrOver bool   // the header block is longer than maxHeaderBytes
}

func (b *bodyChecker) Write(p []byte) (int, error) {
	for _, c := range p {
		switch {
		case c == '\n' && !b.prevCR, b.prevCR && c != '\n':
			b.bare = true
		}
		b.prevCR = c == '\r'
	}
	if !b.hdrDone && !b.hdrOver {
		b.keepHeader(p)
	}
	if b.err == nil && !b.bare {
		if _, err := b.dst.Write(p); err != nil {
			b.err = err
		}
	}
	return len(p), nil
}

// keepHeader appends p to the header copy, up to the empty line.
func (b *bodyChecker) keepHeader(p []byte) {
	from := max(len(b.hdr)-3, 0)
	room := maxHeaderBytes - len(b.hdr)
	b.hdr = append(b.hdr, p[:min(len(p), room)]...)
	if bytes.HasPrefix(b.hdr, []byte("\r\n")) {
		b.hdr, b.hdrDone = b.hdr[:2], true // no header fields at all
		return
	}
	if i := bytes.Index(b.hdr[from:], []byte("\r\n\r\n")); i >= 0 {
		b.hdr, b.hdrDone = b.hdr[:from+i+4], true
		return
	}
	if len(b.hdr) >= maxHeaderBytes {
		b.hdrOver = true
	}
}

// headerInfo is what the server needs from the message header.
type headerInfo struct {
	messageID string // "" when absent
	hasDate   bool
	hasFrom   bool
}

// inspect reads the header block. On submission it also enforces RFC 6409
// §8 style policy: at most one From field (RFC 5322 §3.6; a missing one is
// added by prefix), every address in it one the user may send as.
func (s *session) inspect(ctx context.Context, b *bodyChecker) (headerInfo, error) {
	submission := s.srv.mode == ModeSubmission
	if b.hdrOver {
		if submission {
			return headerInfo{}, s.reject(errHeaderTooLarge, "header too large")
		}
		return headerInfo{}, nil
	}
	raw := b.hdr
	if !b.hdrDone {
		raw = append(raw, "\r\n"...) // a message of header fields only
	}
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		if submission {
			return headerInfo{}, s.reject(errBadHeader, "malformed header", "err", err)
		}
		return headerInfo{}, nil
	}
	info := headerInfo{messageID: h.Get("Message-Id"), hasDate: h.Has("Date"), hasFrom: h.Has("From")}
	if !submission {
		return info, nil
	}
	if froms := h.Values("From"); len(froms) > 1 {
		return info, s.reject(errManyFroms, "From header fields", "count", len(froms))
	}
	acct, err := s.srv.st.AccountByID(ctx, s.id.AccountID)
	if err != nil {
		return info, s.internal("loading account", err)
	}
	// From, and the fields that name who sent or resent the message
	// (RFC 5322 §3.6.2, §3.6.6), must be addresses the user may send as:
	// clients show "Sender on behalf of From".
	for _, field := range []string{"From", "Sender", "Resent-From", "Resent-Sender"} {
		for _, v := range h.Values(field) {
			addrs, err := mail.ParseAddressList(v)
			if err != nil || len(addrs) == 0 {
				return info, s.reject(errBadFrom, "unparsable "+field, "field", field, "value", v)
			}
			for _, a := range addrs {
				ok, err := s.srv.router.MaySendAs(ctx, acct, a.Address)
				if err != nil {
					return info, s.internal("checking "+field, err)
				}
				if !ok {
					return info, s.reject(errFromDenied, field+" address not allowed", "user", acct.Address, "field", field, "address", a.Address)
				}
			}
		}
	}
	return info, nil
}

// prefix builds the header fields the server adds before the stored body:
// Return-Path, then (on the MX) Authentication-Results (RFC 8601 §5: added
// at the top, here below Return-Path), Received (RFC 5321 §4.4), and on
// submission a From, Message-ID and Date when the message has none
// (RFC 6409 §8.1, §8.2, §8.3). It returns Return-Path apart from the other
// fields, which relayed copies carry without it, and the message's
// Message-ID.
func (s *session) prefix(id string, hdr headerInfo, authResults []byte, now time.Time) (returnPath string, relayed []byte, msgID string) {
	returnPath = "Return-Path: <" + clean(s.from) + ">\r\n"
	var b strings.Builder
	b.Write(authResults)
	b.WriteString(s.received(id, now))
	msgID = hdr.messageID
	if s.srv.mode == ModeSubmission {
		if !hdr.hasFrom {
			// RFC 6409 §8.1: an MSA may add a From field naming the
			// authenticated submitter.
			fmt.Fprintf(&b, "From: <%s>\r\n", clean(s.id.Address))
		}
		if msgID == "" {
			msgID = "<" + netserve.NewID() + "@" + s.srv.cfg.Hostname + ">"
			fmt.Fprintf(&b, "Message-ID: %s\r\n", msgID)
		}
		if !hdr.hasDate {
			fmt.Fprintf(&b, "Date: %s\r\n", now.Format(time.RFC1123Z))
		}
	}
	return returnPath, []byte(b.String()), msgID
}

// received builds the trace field of RFC 5321 §4.4, with the protocol
// types of RFC 3848 and RFC 6531 §3.7.3, folded on several lines:
//
//	Received: from HELO ([IP])
//		by HOSTNAME with ESMTPSA id ID
//		(version=TLS1.3 cipher=TLS_AES_128_GCM_SHA256)
//		(authenticated as USER)
//		for <RCPT>; DATE
//
// With Config.HideSubmissionClient a submitted message's field leaves out
// the from clause and the login, as large providers do for their users'
// mail: the client's address and machine name are nobody else's business.
func (s *session) received(id string, now time.Time) string {
	var b strings.Builder
	hide := s.srv.mode == ModeSubmission && s.srv.cfg.HideSubmissionClient
	if hide {
		fmt.Fprintf(&b, "Received: by %s with %s id %s", s.srv.cfg.Hostname, s.protocol(), id)
	} else {
		fmt.Fprintf(&b, "Received: from %s (%s)\r\n", cleanHelo(s.helo), addressLiteral(s.c.remote))
		fmt.Fprintf(&b, "\tby %s with %s id %s", s.srv.cfg.Hostname, s.protocol(), id)
	}
	if s.tls != nil {
		fmt.Fprintf(&b, "\r\n\t(version=%s cipher=%s)",
			strings.ReplaceAll(tls.VersionName(s.tls.Version), " ", ""), tls.CipherSuiteName(s.tls.CipherSuite))
	}
	if s.id != nil && !hide {
		fmt.Fprintf(&b, "\r\n\t(authenticated as %s)", clean(s.id.Address))
	}
	if len(s.rcpts) == 1 {
		fmt.Fprintf(&b, "\r\n\tfor <%s>", clean(s.rcpts[0]))
	}
	fmt.Fprintf(&b, "; %s\r\n", now.Format(time.RFC1123Z))
	return b.String()
}

// protocol is the "with" keyword: ESMTP or UTF8SMTP, plus S with TLS and A
// when authenticated (RFC 3848 §2, RFC 6531 §3.7.3). go-smtp does not tell
// HELO from EHLO, so plain "SMTP" is never used.
func (s *session) protocol() string {
	p := "ESMTP"
	if s.opts.UTF8 {
		p = "UTF8SMTP"
	}
	if s.tls != nil {
		p += "S"
	}
	if s.id != nil {
		p += "A"
	}
	return p
}

// addressLiteral formats ip as in RFC 5321 §4.1.3.
func addressLiteral(ip netip.Addr) string {
	switch {
	case !ip.IsValid():
		return "unknown"
	case ip.Is4():
		return "[" + ip.String() + "]"
	default:
		return "[IPv6:" + ip.String() + "]"
	}
}

// clean drops control characters from text the client chose, before it goes
// into a header field.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// cleanHelo keeps the EHLO name a single token of printable ASCII, without
// the characters that would end the Received clause or open a comment.
func cleanHelo(s string) string {
	if len(s) > 255 {
		s = s[:255]
	}
	s = strings.Map(func(r rune) rune {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune("();\\\"", r) {
			return '_'
		}
		return r
	}, s)
	if s == "" {
		return "unknown"
	}
	return s
}
