package queue

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/netip"
	"strings"

	"github.com/emersion/go-smtp"

	"postel/internal/dns"
	"postel/internal/store"
)

// outcome is what an attempt did for one recipient.
type outcome struct {
	attempted bool // false: not tried this time (nothing to record)
	reply     reply
	// relayed: accepted by a server without the DSN extension, which
	// will not report success itself: a success DSN must then say
	// "relayed" (RFC 3461 §5.2.2).
	relayed bool
}

// domainJob is the delivery of one message to its recipients in one
// domain: one SMTP transaction carries them all.
type domainJob struct {
	e      *store.QueueEntry
	domain string
	rcpts  []int // indexes into e.Recipients
	msg    io.ReaderAt
	size   int64  // of msg
	sig    []byte // DKIM-Signature fields sent before msg
	out    []outcome
}

func (j *domainJob) setAll(r reply) {
	for _, i := range j.rcpts {
		j.out[i] = outcome{attempted: true, reply: r}
	}
}

// deliverDomain walks the MX hosts of the job's domain (RFC 5321 §5.1):
// every address of every host is tried until one takes the transaction;
// only then do the recipients get their own replies. When no host can be
// used, every recipient gets the last failure.
func (q *Queue) deliverDomain(ctx context.Context, j *domainJob) {
	release, err := q.limits.acquire(ctx, j.domain)
	if err != nil {
		for _, i := range j.rcpts {
			j.out[i] = outcome{reply: replyLocal("not attempted: " + err.Error())}
		}
		return
	}
	defer release()

	rt, fail := q.resolveRoute(ctx, j.domain)
	if fail != nil {
		j.setAll(*fail)
		return
	}
	var sts *stsPolicy
	if rt.hosts[0].name != "" {
		sts = q.sts.policy(ctx, j.domain)
	}
	if j.e.RequireTLS && !rt.secure && sts == nil {
		// RFC 8689 §4.2.1: the MX records must be DNSSEC-validated or
		// confirmed by an MTA-STS policy.
		j.setAll(replyRequireTLS("the MX records of " + j.domain + " are neither DNSSEC-signed nor confirmed by MTA-STS"))
		return
	}

	var last reply
	onlyRequireTLS := true // every failure so far was one of REQUIRETLS's conditions
	for _, h := range rt.hosts {
		if sts != nil && !sts.matches(h.name) {
			if sts.mode == modeEnforce || j.e.RequireTLS {
				// RFC 8461 §4.2: MX hosts outside the policy are not used.
				last = reply{code: 451, status: "4.7.5", text: h.name + " is not an MX host allowed by the MTA-STS policy of " + j.domain}
				onlyRequireTLS = onlyRequireTLS && j.e.RequireTLS
				continue
			}
			q.log.Warn("MTA-STS testing: MX host not in policy", "domain", j.domain, "host", h.name)
		}
		addrs, secure := []netip.Addr{h.ip}, false
		if h.name != "" {
			var err error
			addrs, secure, err = q.lookupAddrs(ctx, h.name)
			if err != nil {
				if dns.IsNotFound(err) {
					last = reply{code: 451, status: "4.4.4", text: "MX host " + h.name + " has no address"}
				} else {
					last = replyDNS(err)
				}
				onlyRequireTLS = false
				continue
			}
		}
		if addrs = q.usable(addrs); len(addrs) == 0 {
			name := h.name
			if name == "" {
				name = "[" + h.ip.String() + "]"
			}
			last = reply{code: 451, status: "4.4.4", text: "MX host " + name + " has no public address"}
			onlyRequireTLS = false
			continue
		}
		policy, perr := q.hostPolicy(ctx, j, h.name, secure, sts)
		if perr != nil {
			last, onlyRequireTLS = *perr, false
			continue
		}
		for _, a := range addrs {
			r, requireTLS, done := q.tryAddr(ctx, j, h, a, policy)
			if done {
				return
			}
			last = r
			onlyRequireTLS = onlyRequireTLS && requireTLS
			if ctx.Err() != nil {
				j.setAll(replyConnLost(h.name, ctx.Err()))
				return
			}
		}
	}
	if j.e.RequireTLS && onlyRequireTLS && !last.permanent() {
		last = replyRequireTLS(last.text)
	}
	j.setAll(last)
}

// hostPolicy decides the TLS policy of one MX host. DANE (RFC 7672 §2.2)
// applies when the host's addresses and its TLSA records are DNSSEC-secure;
// a TLSA lookup that fails for a secure host makes the host unusable, since
// an attacker could cause the failure to strip DANE.
func (q *Queue) hostPolicy(ctx context.Context, j *domainJob, host string, addrSecure bool, sts *stsPolicy) (tlsPolicy, *reply) {
	p := tlsPolicy{requireTLS: j.e.RequireTLS, stsEnforce: sts != nil && sts.mode == modeEnforce}
	if host == "" || !addrSecure {
		return p, nil
	}
	recs, ad, err := q.res.LookupTLSA(ctx, q.cfg.Port, "tcp", host)
	switch {
	case dns.IsNotFound(err):
		return p, nil
	case err != nil:
		r := reply{code: 451, status: "4.7.5", text: "TLSA lookup for " + host + " failed: " + err.Error()}
		return p, &r
	case !ad:
		return p, nil
	}
	p.dane = usableTLSA(recs)
	p.daneUnusable = len(p.dane) == 0
	p.stsEnforce = false // RFC 8461 §2: DANE takes precedence
	return p, nil
}

// tryAddr tries one address of an MX host: a session (idle from the pool
// or new) and the transaction. done means the recipients have their
// outcomes; otherwise the reply says why the host could not be used, and
// requireTLS whether that was one of REQUIRETLS's conditions.
func (q *Queue) tryAddr(ctx context.Context, j *domainJob, h mxHost, a netip.Addr, policy tlsPolicy) (r reply, requireTLS, done bool) {
	addr := netip.AddrPortFrom(a, uint16(q.cfg.Port))
	for {
		s := q.pool.get(sessionKey(addr, h.name))
		if s != nil && !s.tls.satisfies(policy) {
			q.pool.discard(s)
			s = nil
		}
		if s == nil {
			v := &verifier{host: h.name, domain: j.domain, roots: q.cfg.RootCAs, policy: policy}
			ns, err := q.dial(ctx, addr, v, false)
			var de *dialError
			if errors.As(err, &de) && de.retryPlain {
				// Opportunistic TLS that fails is retried in the clear
				// (RFC 7435 §1.3), as no policy asks for TLS.
				q.log.Info("TLS failed, retrying without", "host", h.name, "addr", addr, "err", de.reply.text)
				v = &verifier{host: h.name, domain: j.domain, roots: q.cfg.RootCAs, policy: policy}
				ns, err = q.dial(ctx, addr, v, true)
			}
			if errors.As(err, &de) {
				q.log.Info("host failed", "host", h.name, "addr", addr, "reply", de.reply.String())
				return de.reply, de.requireTLS, false
			}
			s = ns
			q.log.Debug("connected", "session", s.String(), "pkix", s.tls.pkixOK, "dane", s.tls.daneOK)
		}
		res := q.transact(ctx, s, j)
		switch {
		case res.stale:
			continue // a pooled session the server had closed: dial anew
		case res.hostFail != nil:
			return *res.hostFail, res.requireTLS, false
		}
		return reply{}, false, true
	}
}

// txResult is the end of a transaction attempt.
type txResult struct {
	hostFail   *reply // the host failed before answering any recipient
	requireTLS bool   // hostFail is one of REQUIRETLS's conditions
	stale      bool   // a reused session failed at its first command
}

// transact runs one SMTP transaction for the job on s, and returns s to
// the pool or closes it. On success (a zero txResult) every recipient of
// the job has its outcome.
func (q *Queue) transact(ctx context.Context, s *session, j *domainJob) (res txResult) {
	broken := false
	stop := context.AfterFunc(ctx, func() { s.conn.Close() })
	defer func() {
		switch {
		case !stop() || broken || res.stale:
			s.c.Close()
		case res.hostFail != nil:
			q.pool.discard(s) // QUIT, in the background
		case s.c.Reset() == nil:
			q.pool.put(s)
		default:
			s.c.Close()
		}
	}()
	hostFail := func(r reply, requireTLS bool) txResult {
		return txResult{hostFail: &r, requireTLS: requireTLS}
	}
	c := s.c
	e := j.e

	// What the message needs of the server.
	if e.RequireTLS {
		if ok, _ := c.Extension("REQUIRETLS"); !ok {
			return hostFail(replyRequireTLS(s.mta+" does not offer REQUIRETLS"), true)
		}
	}
	utf8Ext, _ := c.Extension("SMTPUTF8")
	if e.SMTPUTF8 && !utf8Ext && needsUTF8(e, j.rcpts) {
		j.setAll(replyNeedsUTF8(s.mta))
		return txResult{}
	}
	if ok, _ := c.Extension("8BITMIME"); e.Body8Bit && !ok {
		j.setAll(replyNeeds8Bit(s.mta))
		return txResult{}
	}
	total := j.size + int64(len(j.sig))
	if max, ok := c.MaxMessageSize(); ok && max > 0 && total > int64(max) {
		j.setAll(replyTooBig(s.mta, max))
		return txResult{}
	}
	dsnExt, _ := c.Extension("DSN")

	opts := &smtp.MailOptions{Size: total, RequireTLS: e.RequireTLS, UTF8: e.SMTPUTF8 && utf8Ext}
	if e.DSNRet == string(smtp.DSNReturnFull) || e.DSNRet == string(smtp.DSNReturnHeaders) {
		opts.Return = smtp.DSNReturn(e.DSNRet)
	}
	if printableASCII(e.DSNEnvID) && len(e.DSNEnvID) <= 100 {
		opts.EnvelopeID = e.DSNEnvID
	}
	if err := c.Mail(e.From, opts); err != nil {
		r := remoteReply(s.mta, err)
		var se *smtp.SMTPError
		switch {
		case s.reused && (!errors.As(err, &se) || se.Code == 421):
			// The server closed the idle connection, perhaps with a 421
			// (RFC 5321 §3.8) that waited for our next command.
			broken = true
			return txResult{stale: true}
		case !errors.As(err, &se):
			broken = true
			return hostFail(r, false)
		case r.permanent():
			// The server refuses the sender: no other host will differ.
			j.setAll(r)
			return txResult{}
		}
		return hostFail(r, false) // 4xx: another MX may do better
	}

	var accepted []int
	for n, i := range j.rcpts {
		rc := &e.Recipients[i]
		err := c.Rcpt(rc.Address, rcptOptions(rc))
		if err == nil {
			accepted = append(accepted, i)
			continue
		}
		var se *smtp.SMTPError
		if !errors.As(err, &se) {
			broken = true
			for _, k := range j.rcpts[n:] {
				j.out[k] = outcome{attempted: true, reply: replyConnLost(s.mta, err)}
			}
			for _, k := range accepted {
				j.out[k] = outcome{attempted: true, reply: replyConnLost(s.mta, err)}
			}
			return txResult{}
		}
		j.out[i] = outcome{attempted: true, reply: remoteReply(s.mta, err)}
	}
	if len(accepted) == 0 {
		return txResult{}
	}
	setAccepted := func(o outcome) {
		for _, i := range accepted {
			j.out[i] = o
		}
	}

	w, err := c.Data()
	if err != nil {
		var se *smtp.SMTPError
		broken = !errors.As(err, &se)
		setAccepted(outcome{attempted: true, reply: remoteReply(s.mta, err)})
		return txResult{}
	}
	_, err = io.Copy(w, io.MultiReader(bytes.NewReader(j.sig), io.NewSectionReader(j.msg, 0, j.size)))
	if err != nil {
		broken = true
		setAccepted(outcome{attempted: true, reply: replyConnLost(s.mta, err)})
		return txResult{}
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		// A connection lost here leaves it unknown whether the server
		// took the message: it is retried, perhaps delivered twice
		// (RFC 5321 §6.1 prefers that to losing it).
		var se *smtp.SMTPError
		broken = !errors.As(err, &se)
		setAccepted(outcome{attempted: true, reply: remoteReply(s.mta, err)})
		return txResult{}
	}
	setAccepted(outcome{attempted: true, reply: okReply(s.mta, resp.StatusText), relayed: !dsnExt})
	return txResult{}
}

// rcptOptions passes a recipient's DSN parameters on (RFC 3461 §4.1-2);
// values go-smtp would refuse are dropped.
func rcptOptions(rc *store.QueueRcpt) *smtp.RcptOptions {
	opts := &smtp.RcptOptions{}
	valid, never := len(rc.Notify) > 0, false
	for _, n := range rc.Notify {
		switch v := smtp.DSNNotify(strings.ToUpper(n)); v {
		case smtp.DSNNotifyNever:
			never = true
			opts.Notify = append(opts.Notify, v)
		case smtp.DSNNotifyDelayed, smtp.DSNNotifyFailure, smtp.DSNNotifySuccess:
			opts.Notify = append(opts.Notify, v)
		default:
			valid = false
		}
	}
	// RFC 3461 §4.1: NEVER stands alone.
	if !valid || (never && len(opts.Notify) > 1) {
		opts.Notify = nil
	}
	if typ, addr, ok := strings.Cut(rc.ORcpt, ";"); ok && addr != "" {
		switch strings.ToUpper(strings.TrimSpace(typ)) {
		case string(smtp.DSNAddressTypeRFC822):
			if printableASCII(addr) {
				opts.OriginalRecipientType, opts.OriginalRecipient = smtp.DSNAddressTypeRFC822, addr
			}
		case string(smtp.DSNAddressTypeUTF8):
			opts.OriginalRecipientType, opts.OriginalRecipient = smtp.DSNAddressTypeUTF8, addr
		}
	}
	return opts
}

// needsUTF8 reports whether the envelope has non-ASCII addresses, which
// only an SMTPUTF8 server may receive (RFC 6531 §3.2).
func needsUTF8(e *store.QueueEntry, rcpts []int) bool {
	if !printableASCII(e.From) {
		return true
	}
	for _, i := range rcpts {
		if !printableASCII(e.Recipients[i].Address) {
			return true
		}
	}
	return false
}

func printableASCII(s string) bool {
	for _, c := range []byte(s) {
		if c < ' ' || c > '~' {
			return false
		}
	}
	return true
}
