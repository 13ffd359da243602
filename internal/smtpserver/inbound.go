package smtpserver

import (
	"bytes"
	"context"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"postel/internal/deliver"
	"postel/internal/junk"
	"postel/internal/message"
	"postel/internal/msgauth"
	"postel/internal/msgauth/arc"
	"postel/internal/store"
)

// Inbound is what the MX needs to judge who sent a message and to forward
// it so that the next hop can still judge. Every field is optional; the
// zero value checks nothing.
type Inbound struct {
	// Checker runs SPF, DKIM, DMARC, ARC and the client checks
	// (internal/msgauth); nil: mail is not checked and gets no
	// Authentication-Results field.
	Checker *msgauth.Checker
	// Trusted networks: their clients' mail is not checked (a backup MX
	// that checked it already), which its Authentication-Results says.
	Trusted []netip.Prefix
	// Junk decides, per local recipient, whether the copy goes to Junk
	// and writes why; nil: only the checks' Junk verdict files mail.
	Junk JunkFilter
	// Sealer returns the ARC sealer of a domain, nil when it has no key:
	// forwarded mail is sealed (RFC 8617) with the alias domain's key.
	Sealer func(domain string) *arc.Sealer
}

// JunkFilter files one recipient's copy (internal/junk.Filter).
type JunkFilter interface {
	Decide(ctx context.Context, accountID int64, s junk.Signals) (junk.Decision, error)
}

// isTrusted reports whether ip is in a trusted network.
func (in *Inbound) isTrusted(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range in.Trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// clientChecks returns the checks of the connection's client (iprev, HELO,
// DNS lists), run at the first MAIL and again only when the HELO name
// changes (a new EHLO after STARTTLS names the client again).
func (c *conn) clientChecks(ctx context.Context, chk *msgauth.Checker, helo string) *msgauth.Client {
	c.mu.Lock()
	cl := c.client
	c.mu.Unlock()
	if cl != nil && cl.HELOName == helo {
		return cl
	}
	cl = chk.CheckClient(ctx, c.remote, helo)
	c.mu.Lock()
	c.client = cl
	c.mu.Unlock()
	return cl
}

// checkMessage runs the message checks of the MX on the spooled message as
// received. It returns nil when there are none to run (no Checker, a
// trusted client); a non-nil error is the reply refusing the message
// (550 5.7.1 for a DMARC reject or a spoofed local sender, 451 4.7.0 when
// DNS failed where it mattered).
func (s *session) checkMessage(ctx context.Context, spool store.Spool) (*msgauth.Result, error) {
	chk := s.srv.cfg.Inbound.Checker
	if s.srv.mode != ModeMX || chk == nil || s.trusted {
		return nil, nil
	}
	body, err := spool.Open()
	if err != nil {
		return nil, s.internal("reading spool", err)
	}
	defer body.Close()
	res := chk.CheckMessage(ctx, s.client, s.from, io.NewSectionReader(body, 0, body.Size()))
	v := res.Verdict
	s.log.Info("checked", "from", s.from, "header_from", res.From, "spf", res.SPF.Result, "dkim", dkimResults(res),
		"dmarc", res.DMARC.Result, "dmarc_policy", res.DMARC.Applied, "arc", res.ARC.Result,
		"iprev", res.IPRev.Result, "verdict", v.Action.String(), "reason", v.Reason)
	switch v.Action {
	case msgauth.Reject, msgauth.TempFail:
		e := reply(v.Code, v.Enhanced[0], v.Enhanced[1], v.Enhanced[2], clean(v.Reason))
		return nil, s.reject(e, "message checks", "verdict", v.Action.String())
	}
	return res, nil
}

// dkimResults lists the DKIM results for the log, "none" without any.
func dkimResults(res *msgauth.Result) string {
	if len(res.DKIM) == 0 {
		return "none"
	}
	parts := make([]string, len(res.DKIM))
	for i, d := range res.DKIM {
		parts[i] = d.Result + ":" + d.Domain
	}
	return strings.Join(parts, ",")
}

// authResults is the Authentication-Results field the MX adds: the
// checks' results, or for a trusted client a field saying that nothing
// was checked here (RFC 8601 §2.2 "none"). Nil without a Checker.
func (s *session) authResults(res *msgauth.Result) []byte {
	switch {
	case res != nil:
		return res.Header()
	case s.srv.mode == ModeMX && s.srv.cfg.Inbound.Checker != nil && s.trusted:
		return []byte("Authentication-Results: " + s.srv.cfg.Hostname + "; none (client in a trusted network, not checked)\r\n")
	}
	return nil
}

// ours lists the header fields only this server may write: the
// Authentication-Results and ARC fields that claim our name (RFC 8601 §5,
// RFC 8617 §4.1), and X-Postel-Junk.
var ours = []string{"Authentication-Results", "ARC-Authentication-Results", "ARC-Seal", "ARC-Message-Signature", junk.HeaderName}

// stripForged returns the message of spool without the fields a sender
// must not be trusted with, which would otherwise speak for this server
// in the user's mail: Authentication-Results and ARC fields claiming our
// authserv-id or one of our domains, and X-Postel-Junk. The message is
// copied into a new spool only when there is one (an attack, or mail
// looping back); otherwise spool itself is returned, never rewritten.
// hdr is the header block of the message as received.
func (s *session) stripForged(ctx context.Context, spool store.Spool, hdr []byte) (store.Spool, error) {
	fields := message.Fields(hdr)
	if !slices.ContainsFunc(fields, func(f message.Field) bool {
		return slices.ContainsFunc(ours, f.Is)
	}) {
		return spool, nil
	}
	domains, err := s.srv.st.ListDomains(ctx)
	if err != nil {
		return nil, s.internal("listing domains", err)
	}
	names := make([]string, len(domains))
	for i, d := range domains {
		names[i] = d.Name
	}
	drop := map[int]bool{}
	for _, i := range msgauth.ForgedFields(fields, s.srv.cfg.Hostname, names) {
		drop[i] = true
	}
	for i, f := range fields {
		if f.Is(junk.HeaderName) {
			drop[i] = true
		}
	}
	if len(drop) == 0 {
		return spool, nil
	}
	out, err := s.srv.st.NewSpool()
	if err != nil {
		return nil, s.internal("creating spool", err)
	}
	if err := copyWithout(out, spool, hdr, fields, drop); err != nil {
		out.Discard()
		return nil, s.internal("rewriting spool", err)
	}
	s.log.Info("removed header fields claiming to be ours", "fields", len(drop))
	return out, nil
}

// copyWithout writes to out the message of spool, whose header block is
// hdr split into fields, without the fields in drop, and finishes out.
func copyWithout(out, spool store.Spool, hdr []byte, fields []message.Field, drop map[int]bool) error {
	body, err := spool.Open()
	if err != nil {
		return err
	}
	defer body.Close()
	if _, err := out.Write(withoutFields(hdr, fields, drop)); err != nil {
		return err
	}
	if _, err := io.Copy(out, io.NewSectionReader(body, int64(len(hdr)), body.Size()-int64(len(hdr)))); err != nil {
		return err
	}
	return out.Finish()
}

// withoutFields returns hdr without the fields in drop, every other byte
// kept as it was; fields are message.Fields(hdr).
func withoutFields(hdr []byte, fields []message.Field, drop map[int]bool) []byte {
	kept := make([]byte, 0, len(hdr))
	at := 0 // offset in hdr of what is still to copy
	for i, f := range fields {
		if !drop[i] {
			continue
		}
		// f.Raw is a slice of hdr (message.Fields): its offset is what
		// its capacity lacks.
		start := cap(hdr) - cap(f.Raw)
		kept = append(kept, hdr[at:start]...)
		at = start + len(f.Raw)
	}
	return append(kept, hdr[at:]...)
}

// filing decides, on the MX, where each local recipient's copy goes: its
// Junk mailbox when the user's rules, the sender's reputation or the
// checks say so (junk.Filter), with the X-Postel-Junk field explaining
// it. hdr is the header block, for the From address when the checks did
// not run.
func (s *session) filing(ctx context.Context, res *msgauth.Result, hdr []byte) (map[int64]deliver.Filing, error) {
	if s.srv.mode != ModeMX || len(s.local) == 0 {
		return nil, nil
	}
	var sig junk.Signals
	if res != nil {
		sig.From, sig.Authenticated = res.From, res.Authenticated
		if res.Verdict.Action == msgauth.Junk {
			sig.PolicyJunk = res.Verdict.Reason
		}
	} else {
		sig.From = msgauth.FromAddress(message.Fields(hdr))
	}
	out := map[int64]deliver.Filing{}
	for _, a := range s.local {
		d := junk.Decision{Junk: sig.PolicyJunk != "", Reason: sig.PolicyJunk}
		if f := s.srv.cfg.Inbound.Junk; f != nil {
			var err error
			if d, err = f.Decide(ctx, a.ID, sig); err != nil {
				return nil, s.internal("junk filter", err)
			}
		}
		if !d.Junk && d.Reason == "" {
			continue
		}
		fl := deliver.Filing{Header: d.Header()}
		if d.Junk {
			name, err := junkMailbox(ctx, s.srv.st, a.ID)
			if err != nil {
				return nil, s.internal("finding the Junk mailbox", err)
			}
			fl.Mailbox = name
		}
		out[a.ID] = fl
		s.log.Info("filed", "account", a.Address, "junk", d.Junk, "reason", d.Reason)
	}
	return out, nil
}

// junkMailbox is the name of the account's mailbox with the \Junk role
// (RFC 6154), whatever the user renamed it to; INBOX when there is none.
func junkMailbox(ctx context.Context, st Store, accountID int64) (string, error) {
	boxes, err := st.ListMailboxes(ctx, accountID)
	if err != nil {
		return "", err
	}
	for _, b := range boxes {
		if b.SpecialUse == store.RoleJunk {
			return b.Name, nil
		}
	}
	return "INBOX", nil
}

// forwarding prepares the queued copy of mail the MX forwards (aliases to
// remote addresses): the envelope sender rewritten with the router's SRS
// (when set) into an address of the alias's domain, so that SPF passes at
// the next hop and bounces come back here (the router routes them), and
// an ARC set sealing what this server saw
// (RFC 8617), over relayed (the header fields the queued copy carries,
// without Return-Path) followed by the message in spool.
func (s *session) forwarding(in *deliver.Incoming, res *msgauth.Result, relayed []byte, spool store.Spool) {
	ib := &s.srv.cfg.Inbound
	if s.srv.mode != ModeMX || len(s.remote) == 0 || s.fwdDomain == "" {
		return
	}
	if rw := s.srv.router.SRS; rw != nil && s.from != "" {
		if addr, err := rw.Forward(s.from, s.fwdDomain, time.Now()); err != nil {
			s.log.Warn("SRS: keeping the original sender", "from", s.from, "err", err)
		} else {
			in.From = addr
		}
	}
	if ib.Sealer == nil || res == nil {
		return
	}
	sealer := ib.Sealer(s.fwdDomain)
	if sealer == nil {
		s.log.Info("ARC: no RSA key to seal with", "domain", s.fwdDomain)
		return
	}
	body, err := spool.Open()
	if err != nil {
		s.log.Warn("ARC: not sealed", "err", err)
		return
	}
	defer body.Close()
	msg := io.MultiReader(bytes.NewReader(relayed), io.NewSectionReader(body, 0, body.Size()))
	set, err := sealer.Seal(msg, res.Chain, s.srv.cfg.Hostname, res.AuthResults())
	if err != nil {
		s.log.Warn("ARC: not sealed", "err", err)
		return
	}
	in.QueueHeader = set
}
