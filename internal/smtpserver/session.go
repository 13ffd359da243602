package smtpserver

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"postel/internal/auth"
	"postel/internal/deliver"
	"postel/internal/maillog"
	"postel/internal/msgauth"
	"postel/internal/store"
)

// session is the state of one client between EHLO (or STARTTLS) and the end
// of the connection. go-smtp calls its methods from one goroutine at a time
// (BDAT runs Data on its own goroutine while the connection waits).
type session struct {
	srv *Server
	c   *conn
	sc  *smtp.Conn
	log *slog.Logger
	tls *tls.ConnectionState // nil without TLS
	id  *auth.Identity       // after a successful AUTH

	// The transaction, from MAIL to the end of DATA/BDAT. Data reads it on
	// go-smtp's BDAT goroutine, so it is copied from go-smtp's Conn (helo)
	// on the connection's goroutine, in Mail.
	helo      string
	from      string
	opts      smtp.MailOptions
	rcpts     []string // RCPT addresses as given
	local     []store.Account
	localIDs  map[int64]bool
	remote    []store.QueueRcpt
	remoteSet map[string]bool // lower-cased remote addresses
	fwdDomain string          // MX: the domain of the first alias forwarding to remote addresses
	mailAt    time.Time       // when MAIL came: the mail log's delays count from it

	// refusal is why the last command was refused, for the mail log's
	// lines of a refused message; atomic, since BDAT's Data runs on a
	// goroutine of its own while the connection's reads commands.
	refusal atomic.Pointer[string]

	// The checks of the MX (inbound.go), set in Mail.
	trusted bool            // the client is in a trusted network
	client  *msgauth.Client // its client checks; nil when not run
}

// submissionSession adds AUTH (RFC 4954) to a session: go-smtp offers AUTH
// to sessions implementing smtp.AuthSession.
type submissionSession struct{ *session }

var (
	_ smtp.Session     = (*session)(nil)
	_ smtp.AuthSession = submissionSession{}
)

// clear forgets the transaction.
func (s *session) clear() {
	s.helo, s.from, s.opts, s.rcpts = "", "", smtp.MailOptions{}, nil
	s.local, s.localIDs = nil, map[int64]bool{}
	s.remote, s.remoteSet, s.fwdDomain = nil, map[string]bool{}, ""
	s.trusted, s.client = false, nil
	s.mailAt = time.Time{}
}

// reject logs a refused command (the client's fault) and returns its reply;
// after Config.MaxErrors refusals the reply is 421 and the connection closes.
func (s *session) reject(e *smtp.SMTPError, reason string, args ...any) error {
	s.log.Info("rejected", append([]any{"code", e.Code, "reason", reason}, args...)...)
	s.refusal.Store(&reason)
	if s.c.fail() {
		s.log.Info("too many errors, closing", "errors", s.c.errors.Load())
		return errTooManyErrors
	}
	return e
}

// internal logs a server fault in detail; the client only learns to retry.
func (s *session) internal(what string, err error) error {
	s.log.Error(what, "err", err)
	reason := "server error: " + what
	s.refusal.Store(&reason)
	return errInternal
}

// mailLog writes the mail log's line of an outcome for one recipient of
// the transaction (internal/maillog), and counts it.
func (s *session) mailLog(e maillog.Entry) {
	e.From = s.from
	if !s.mailAt.IsZero() {
		e.Delay = time.Since(s.mailAt)
	}
	maillog.Record(s.log, s.srv.cfg.Metrics, e)
}

// refuseRcpt refuses a recipient (reject) and logs the outcome for it in
// the mail log, with the reply the client gets.
func (s *session) refuseRcpt(to string, e *smtp.SMTPError, reason string, args ...any) error {
	err := s.reject(e, reason, args...)
	got := e
	errors.As(err, &got)
	s.mailLog(maillog.Entry{To: to, Result: maillog.Refused, Code: got.Code, Reply: replyText(got), Reason: reason})
	return err
}

// replyText is a reply's text with its enhanced status code, as sent.
func replyText(e *smtp.SMTPError) string {
	if e.EnhancedCode == smtp.NoEnhancedCode || e.EnhancedCode == (smtp.EnhancedCode{}) {
		return e.Message
	}
	return fmt.Sprintf("%d.%d.%d %s", e.EnhancedCode[0], e.EnhancedCode[1], e.EnhancedCode[2], e.Message)
}

// Reset ends the transaction (RSET, a new EHLO, or after the reply to the
// message data).
func (s *session) Reset() {
	s.clear()
	s.c.end()
	s.c.syncTrace()
}

// Logout ends the session (connection closing, or STARTTLS starting a new
// one). It never panics: go-smtp calls it outside its panic recovery.
func (s *session) Logout() error {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("panic in logout", "panic", v, "stack", string(debug.Stack()))
		}
	}()
	s.clear()
	s.c.mu.Lock()
	s.c.inTx, s.c.top, s.c.dataBy, s.c.bdat = false, nil, time.Time{}, false
	s.c.idleMX()
	s.c.mu.Unlock()
	return nil
}

// Mail starts a transaction (RFC 5321 §4.1.1.2).
func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	s.clear()
	ctx := s.srv.ctx
	if s.c.closed.Load() {
		// What came of a line cut at its deadline (conn.readTimedOut).
		return errTimeout
	}
	if s.srv.mode == ModeMX && !s.srv.admission.Limits().RateExempt(s.c.remote) && !s.srv.msgRate.Allow(s.c.remote) {
		return s.reject(errMessageRate, "message rate", "limit", "message_rate", "remote", s.c.remote.String(),
			"per_minute", s.srv.admission.Limits().MessageRate)
	}
	if opts.RequireTLS && s.tls == nil {
		return s.reject(errTLSRequired, "REQUIRETLS without TLS")
	}
	if s.srv.mode == ModeSubmission {
		if s.id == nil {
			return s.reject(errAuthRequired, "MAIL before AUTH")
		}
		if from == "" {
			return s.reject(errNullSender, "null sender on submission")
		}
		acct, err := s.srv.st.AccountByID(ctx, s.id.AccountID)
		if err != nil {
			return s.internal("loading account", err)
		}
		ok, err := s.srv.router.MaySendAs(ctx, acct, from)
		if err != nil {
			return s.internal("checking sender", err)
		}
		if !ok {
			return s.reject(errSenderDenied, "envelope sender not allowed", "user", acct.Address, "from", from)
		}
	}
	if !s.c.begin() {
		s.c.closeAfterWrite.Store(true)
		return errShuttingDown
	}
	s.helo, s.from, s.opts = s.sc.Hostname(), from, *opts
	s.mailAt = time.Now()
	if ib := &s.srv.cfg.Inbound; s.srv.mode == ModeMX && ib.Checker != nil {
		s.trusted = ib.isTrusted(s.c.remote)
		if !s.trusted {
			s.client = s.c.clientChecks(ctx, ib.Checker, s.helo)
		}
	}
	return nil
}

// Rcpt adds a recipient (RFC 5321 §4.1.1.3). go-smtp already enforces
// MaxRecipients (452 4.5.3).
func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	ctx := s.srv.ctx
	if s.c.closed.Load() {
		return errTimeout
	}
	if s.srv.mode == ModeMX && !s.srv.admission.Limits().RateExempt(s.c.remote) && !s.srv.rcptRate.Allow(s.c.remote) {
		return s.refuseRcpt(to, errRcptRate, "recipient rate", "limit", "rcpt_rate", "remote", s.c.remote.String(),
			"per_minute", s.srv.admission.Limits().RcptRate, "rcpt", to)
	}
	internal := func(what string, err error) error {
		s.internal(what, err)
		s.mailLog(maillog.Entry{To: to, Result: maillog.Refused, Code: errInternal.Code, Reply: replyText(errInternal),
			Reason: "server error: " + what})
		return errInternal
	}
	route, err := s.srv.router.Resolve(ctx, to)
	switch {
	case err == nil:
	case errors.Is(err, deliver.ErrBadAddress):
		return s.refuseRcpt(to, errBadAddress, "malformed recipient", "rcpt", to)
	case errors.Is(err, deliver.ErrNotLocal):
		if s.srv.mode == ModeMX {
			return s.refuseRcpt(to, errRelayDenied, "relay denied", "rcpt", to)
		}
		route = deliver.Route{Remote: []string{to}}
	case errors.Is(err, deliver.ErrNoSuchUser):
		return s.refuseRcpt(to, errNoSuchUser, "no such user", "rcpt", to)
	default:
		return internal("resolving recipient", err)
	}
	if route.SRS && s.from != "" {
		// An SRS address is where bounces of forwarded mail come back:
		// relaying anything else to the original sender would make us
		// an open relay to every address we ever forwarded from.
		return s.refuseRcpt(to, errSRSBounceOnly, "SRS address, not a bounce", "rcpt", to, "from", s.from)
	}
	for _, a := range route.Local {
		if s.overQuota(a) {
			return s.refuseRcpt(to, errQuotaFull, "over quota", "rcpt", to, "account", a.Address)
		}
	}

	if fresh := s.newRemotes(route.Remote); fresh > 0 && s.id != nil && s.srv.cfg.Outbound != nil {
		ok, err := s.srv.cfg.Outbound.MaySend(ctx, s.id.AccountID, len(s.remote)+fresh)
		if err != nil {
			return internal("checking the sending limit", err)
		}
		if !ok {
			return s.refuseRcpt(to, errDailyLimit, "daily sending limit", "rcpt", to)
		}
	}
	for _, a := range route.Local {
		if !s.localIDs[a.ID] {
			s.localIDs[a.ID] = true
			s.local = append(s.local, a)
		}
	}
	if len(route.Remote) > 0 && s.fwdDomain == "" && s.srv.mode == ModeMX {
		s.fwdDomain = strings.ToLower(to[strings.LastIndexByte(to, '@')+1:])
	}
	for _, addr := range route.Remote {
		key := strings.ToLower(addr)
		if s.remoteSet[key] {
			continue
		}
		s.remoteSet[key] = true
		s.remote = append(s.remote, queueRcpt(to, addr, opts))
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

// newRemotes counts the addresses not yet among the remote recipients.
func (s *session) newRemotes(addrs []string) int {
	n := 0
	for _, a := range addrs {
		if !s.remoteSet[strings.ToLower(a)] {
			n++
		}
	}
	return n
}

// queueRcpt keeps the DSN parameters (RFC 3461 §4.1, §4.2) of a recipient
// for the queue. Mail forwarded by an alias records the address it was sent
// to as ORCPT when the client gave none.
func queueRcpt(to, addr string, opts *smtp.RcptOptions) store.QueueRcpt {
	rc := store.QueueRcpt{Address: addr}
	for _, n := range opts.Notify {
		rc.Notify = append(rc.Notify, string(n))
	}
	switch {
	case opts.OriginalRecipient != "":
		rc.ORcpt = string(opts.OriginalRecipientType) + ";" + opts.OriginalRecipient
	case !strings.EqualFold(to, addr):
		rc.ORcpt = "rfc822;" + to
	}
	return rc
}

// overQuota reports whether account a cannot take the announced message
// (MAIL SIZE=, RFC 1870) or any more mail (a message has at least one
// octet).
func (s *session) overQuota(a store.Account) bool {
	return !a.Fits(max(s.opts.Size, 1))
}

// AuthMechanisms lists the SASL mechanisms offered in EHLO: none without
// TLS, except to loopback clients when Config.AllowPlaintextLoopback.
func (s submissionSession) AuthMechanisms() []string {
	if s.srv.authn == nil || !s.authAllowed() {
		return nil
	}
	return s.srv.authn.Mechanisms()
}

func (s *session) authAllowed() bool {
	return s.tls != nil || (s.srv.cfg.AllowPlaintextLoopback && s.c.remote.IsLoopback())
}

// Auth starts a SASL exchange (RFC 4954 §4).
func (s submissionSession) Auth(mech string) (sasl.Server, error) {
	if s.c.closed.Load() {
		return nil, errTimeout
	}
	if !s.authAllowed() {
		return nil, s.reject(errAuthNotAllowed, "AUTH without TLS")
	}
	if s.srv.authn == nil {
		return nil, s.reject(errAuthMech, "no authenticator")
	}
	sess := s.session
	srv, err := s.srv.authn.NewServer(s.srv.ctx, mech, "smtp", s.c.remote, func(id auth.Identity) {
		sess.id = &id
		sess.c.authenticated()
		sess.c.trace.Login(id.Address)
		sess.log.Info("authenticated", "user", id.Address, "mechanism", mech)
	})
	if err != nil {
		return nil, s.reject(errAuthMech, "unsupported mechanism", "mechanism", mech)
	}
	return &saslServer{srv: srv, s: sess}, nil
}

// saslServer turns the errors of auth's SASL servers into replies.
type saslServer struct {
	srv sasl.Server
	s   *session
}

func (w *saslServer) Next(response []byte) ([]byte, bool, error) {
	challenge, done, err := w.srv.Next(response)
	switch {
	case err == nil:
		return challenge, done, nil
	case errors.Is(err, auth.ErrAuthFailed):
		return nil, false, w.s.reject(errAuthFailed, "authentication failed")
	case errors.Is(err, auth.ErrThrottled):
		return nil, false, w.s.reject(errAuthThrottled, "authentication throttled")
	case errors.Is(err, auth.ErrMalformed):
		return nil, false, w.s.reject(errAuthMalformed, "malformed SASL exchange")
	case errors.Is(err, auth.ErrBusy):
		return nil, false, errAuthTemporary // auth logged which limit
	default:
		w.s.log.Error("authentication", "err", err)
		return nil, false, errAuthTemporary
	}
}

// dataError turns a failure to read the message data into a reply.
func (s *session) dataError(err error) error {
	var se *smtp.SMTPError
	var ne net.Error
	switch {
	case errors.As(err, &se):
		return s.reject(se, "message data refused", "err", se.Message)
	case errors.Is(err, smtp.ErrTooLongLine):
		return s.reject(errLineTooLong, "line too long in message data")
	case errors.As(err, &ne) && ne.Timeout():
		s.log.Info("timed out", "limit", "data_timeout", "remote", s.c.remote.String(), "after", s.srv.cfg.DataTimeout)
		s.c.closeAfterWrite.Store(true)
		return errDataTimeout
	case errors.Is(err, errDataDesync):
		s.c.closeAfterWrite.Store(true)
		return s.internal("reading message data", err)
	default:
		s.log.Info("message transfer aborted", "err", err)
		return errInternal
	}
}

// queuedReply is the reply to accepted data. It is built as an SMTPError
// only because go-smtp takes the reply to DATA/BDAT from Data's result: it
// carries the id under which the message was logged.
func queuedReply(id string) error {
	return reply(250, 2, 0, 0, "Ok: queued as "+id)
}

// messageID makes the id of the n-th message of connection connID.
func messageID(connID string, n int32) string {
	return connID + "." + strconv.Itoa(int(n))
}
