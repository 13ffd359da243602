package imapserver

import (
	"crypto/tls"
	"errors"

	"postel/internal/auth"
	"postel/internal/imap"
)

// STARTTLS (RFC 9051 §6.2.1).
func (s *session) cmdStartTLS(cmd *imap.Command) error {
	if s.srv.tls == nil || s.tls {
		return bad("STARTTLS not available")
	}
	// Whatever the client sent after STARTTLS in the clear is discarded,
	// never read as commands over TLS (the STARTTLS command injection of
	// CVE-2011-0411; RFC 9051 §6.2.1 forbids such pipelining).
	if n := s.br.Buffered(); n > 0 {
		s.log.Info("discarding input pipelined after STARTTLS", "octets", n)
		s.br.Discard(n)
	}
	s.w.StatusResponse(cmd.Tag, "OK", "", "Begin TLS negotiation now")
	if err := s.flush(); err != nil {
		return abort(err)
	}
	tc := tls.Server(s.nc, s.srv.tls)
	// Interrupted in the handshake, the session ends without a BYE in
	// the clear, which the client would not understand.
	if s.conn.ReadBy(s.readDeadline()) {
		s.dropped()
		return errBye
	}
	if err := tc.HandshakeContext(s.ctx()); err != nil {
		if s.dropped() || s.conn.Closing() {
			return errBye
		}
		s.log.Info("TLS handshake failed", "err", err)
		return abort(err)
	}
	s.nc, s.tls = tc, true
	s.setupIO(s.nc, s.nc)
	return errResponded
}

// LOGIN (RFC 9051 §6.2.3).
func (s *session) cmdLogin(cmd *imap.Command) error {
	a := cmd.Args.(*imap.LoginArgs)
	if !s.loginAllowed() {
		return no(codePrivacyRequired, "LOGIN is disabled before TLS; use STARTTLS")
	}
	id, err := s.srv.authn.Login(s.ctx(), "imap", s.remote, a.Username, a.Password)
	if err != nil {
		return authErr(err)
	}
	return s.loggedIn(id)
}

// AUTHENTICATE (RFC 9051 §6.2.2) with SASL-IR (RFC 4959).
func (s *session) cmdAuthenticate(cmd *imap.Command) error {
	a := cmd.Args.(*imap.AuthenticateArgs)
	if !s.loginAllowed() {
		return no(codePrivacyRequired, "Authentication is disabled before TLS; use STARTTLS")
	}
	var id auth.Identity
	srv, err := s.srv.authn.NewServer(s.ctx(), a.Mechanism, "imap", s.remote, func(i auth.Identity) { id = i })
	if err != nil {
		if errors.Is(err, auth.ErrUnknownMechanism) {
			return no(codeCannot, "Unsupported authentication mechanism")
		}
		return err
	}
	var resp []byte // nil: no initial response
	if a.HasInitial {
		resp = a.InitialResponse
	}
	for {
		challenge, done, err := srv.Next(resp)
		if err != nil {
			return authErr(err)
		}
		if done {
			return s.loggedIn(id)
		}
		s.w.ContinuationBase64(challenge)
		if err := s.flush(); err != nil {
			return abort(err)
		}
		if s.conn.ReadBy(s.readDeadline()) {
			s.interrupted()
			return errBye
		}
		r, cancelled, err := s.r.ReadSASLResponse()
		var pe *imap.ParseError
		switch {
		case errors.As(err, &pe):
			return bad(pe.Text)
		case err != nil && (s.conn.Evicted() || s.conn.Closing()):
			s.interrupted()
			return errBye
		case err != nil:
			return abort(err)
		case cancelled:
			return bad("Authentication cancelled") // RFC 9051 §6.2.2
		}
		resp = r
	}
}

// authErr maps the errors of internal/auth to responses (RFC 5530 codes).
func authErr(err error) error {
	switch {
	case errors.Is(err, auth.ErrAuthzFailed):
		// RFC 5530 §3: the credentials were right (auth answers this
		// only then), but may not act as the authorization identity.
		return no(codeAuthzFailed, "Not authorized to act as that identity")
	case errors.Is(err, auth.ErrAuthFailed):
		return no(codeAuthFailed, "Invalid credentials")
	case errors.Is(err, auth.ErrThrottled):
		return no(codeUnavailable, "Too many failed attempts, try again later")
	case errors.Is(err, auth.ErrMalformed):
		return bad("Malformed authentication exchange")
	case errors.Is(err, auth.ErrUnavailable):
		return no(codeUnavailable, "Authentication temporarily unavailable")
	}
	return err
}

// loggedIn moves the session to the authenticated state; the tagged OK
// carries the new capabilities (RFC 9051 §6.2.2).
func (s *session) loggedIn(id auth.Identity) error {
	s.user = id
	s.state = stateAuth
	s.conn.Authenticated()
	s.trace.Login(id.Address)
	s.log = s.log.With("account", id.Address)
	s.watchAccount(id)
	return okCode("CAPABILITY "+s.capabilities(), "Logged in")
}
