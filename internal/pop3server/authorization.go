package pop3server

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"postel/internal/auth"
)

// CAPA (RFC 2449 §5).
func (s *session) cmdCapa(args string) error {
	if args != "" {
		return errSyntax
	}
	s.ok("Capability list follows")
	for _, c := range s.capabilities() {
		s.send(c)
	}
	s.send(".")
	return nil
}

// STLS (RFC 2595 §4).
func (s *session) cmdStls(args string) error {
	switch {
	case args != "":
		return errSyntax
	case s.tls:
		return clientErr("Command not permitted when TLS active") // RFC 2595 §4
	case s.srv.tls == nil:
		return clientErr("TLS is not available")
	}
	s.ok("Begin TLS negotiation now")
	if err := s.bw.Flush(); err != nil {
		return abort(err)
	}
	// Whatever the client sent after STLS came before the TLS
	// negotiation: an attacker's injection (the STARTTLS command
	// injection of CVE-2011-0411). It is dropped with the old reader; an
	// honest client waits for the +OK.
	if n := s.br.Buffered(); n > 0 {
		s.log.Info("input pipelined after STLS discarded", "octets", n)
	}
	tc := tls.Server(s.nc, s.srv.tls)
	if s.conn.ReadBy(s.readDeadline()) {
		return abort(errShutdown)
	}
	if err := tc.HandshakeContext(s.ctx()); err != nil {
		return abort(fmt.Errorf("TLS handshake: %w", err))
	}
	s.nc, s.tls = tc, true
	// RFC 2595 §4: the server forgets what the client said before TLS.
	s.user = ""
	s.setupIO()
	return nil
}

// USER (RFC 1939 §7). Any name is accepted here: whether it exists is
// told by PASS, together with the password's verdict, so that names cannot
// be probed.
func (s *session) cmdUser(args string) error {
	if !s.loginAllowed() {
		return errTLSRequired
	}
	if args == "" {
		return errSyntax
	}
	s.user = args
	return s.okNil("Send your password")
}

// PASS (RFC 1939 §7). The password is the rest of the line, spaces
// included, as RFC 1939 §7 allows.
func (s *session) cmdPass(args string) error {
	if !s.loginAllowed() {
		return errTLSRequired
	}
	if s.user == "" {
		return clientErr("Send USER first")
	}
	user := s.user
	// RFC 1939 §7: after a failed PASS the client starts again with
	// USER (or AUTH).
	s.user = ""
	id, err := s.srv.authn.Login(s.ctx(), "pop3", s.remote, user, args)
	if err != nil {
		return authErr(err)
	}
	return s.loggedIn(id)
}

// AUTH (RFC 5034 §4), with an optional initial response ("=" for an empty
// one). Without arguments it lists the mechanisms, as RFC 1734's clients
// (Outlook among them) still expect.
func (s *session) cmdAuth(args string) error {
	if !s.loginAllowed() {
		return errTLSRequired
	}
	f := strings.Fields(args)
	if len(f) == 0 {
		s.ok("Mechanisms follow")
		for _, m := range s.srv.authn.Mechanisms() {
			s.send(m)
		}
		s.send(".")
		return nil
	}
	if len(f) > 2 {
		return errSyntax
	}
	var id auth.Identity
	srv, err := s.srv.authn.NewServer(s.ctx(), f[0], "pop3", s.remote, func(i auth.Identity) { id = i })
	if errors.Is(err, auth.ErrUnknownMechanism) {
		return clientErr("Unsupported authentication mechanism")
	} else if err != nil {
		return err
	}
	var resp []byte // nil: no initial response
	if len(f) == 2 {
		if resp, err = decodeSASL(f[1], true); err != nil {
			return err
		}
	}
	for {
		challenge, done, err := srv.Next(resp)
		if err != nil {
			return authErr(err)
		}
		if done {
			return s.loggedIn(id)
		}
		// RFC 5034 §4: a challenge is "+", a space and the base64 of
		// the challenge (nothing after the space when it is empty).
		s.send("+ " + base64.StdEncoding.EncodeToString(challenge))
		if err := s.bw.Flush(); err != nil {
			return abort(err)
		}
		if s.conn.ReadBy(s.readDeadline()) {
			return s.interruption()
		}
		line, err := s.readLine(maxSASLLine)
		switch {
		case err == errLineTooLong:
			return err
		case err != nil && (s.conn.Closing() || s.conn.Evicted()):
			return s.interruption()
		case err != nil:
			return abort(err)
		case line == "*":
			// RFC 5034 §4: the client cancels; the server rejects.
			return clientErr("Authentication cancelled")
		}
		if resp, err = decodeSASL(line, false); err != nil {
			return err
		}
	}
}

// decodeSASL decodes a base64 SASL response; "=" is the empty initial
// response (RFC 5034 §4).
func decodeSASL(s string, initial bool) ([]byte, error) {
	if initial && s == "=" {
		return []byte{}, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		// RFC 5034 §4: an undecodable response fails the AUTH command.
		return nil, clientErr("Invalid base64 in the SASL response")
	}
	return b, nil
}

// authErr maps the errors of internal/auth to replies (RFC 3206 codes).
func authErr(err error) error {
	switch {
	case errors.Is(err, auth.ErrAuthFailed):
		return &reply{code: codeAuth, text: "Authentication failed", count: true}
	case errors.Is(err, auth.ErrThrottled):
		return &reply{code: codeSysTemp, text: "Too many failed attempts, try again later", count: true}
	case errors.Is(err, auth.ErrMalformed):
		return clientErr("Malformed authentication exchange")
	case errors.Is(err, auth.ErrUnavailable):
		return &reply{code: codeSysTemp, text: "Authentication temporarily unavailable"}
	}
	return err
}

// UTF8 (RFC 6856 §2): the client accepts UTF-8 in replies and message
// headers. Messages are served as they are stored in either mode (no
// downgrading), and every reply text is ASCII, so UTF-8 mode changes
// nothing but what the client may expect; USER and PASS take UTF-8 in any
// mode ("UTF8 USER" in CAPA).
func (s *session) cmdUTF8(args string) error {
	if args != "" {
		return errSyntax
	}
	s.log.Debug("UTF-8 mode requested")
	return s.okNil("UTF8 enabled")
}

// loggedIn locks and loads the maildrop of the account that authenticated,
// and enters the TRANSACTION state.
func (s *session) loggedIn(id auth.Identity) error {
	release, err := s.srv.cfg.Locks.Lock(s.ctx(), id.AccountID)
	if errors.Is(err, ErrInUse) {
		s.log.Info("maildrop in use", "account", id.Address)
		return &reply{code: codeInUse, text: "Maildrop is in use by another session"}
	} else if err != nil {
		return fmt.Errorf("locking the maildrop: %w", err)
	}
	drop, err := loadMaildrop(s.ctx(), s.srv.st, id.AccountID)
	if err != nil {
		release()
		return fmt.Errorf("loading the maildrop: %w", err)
	}
	s.release = release
	s.acct, s.drop, s.state = id, drop, stateTransaction
	s.conn.Authenticated()
	s.trace.Login(id.Address)
	s.log = s.log.With("account", id.Address)
	s.watchAccount(id)
	count, size := drop.stat()
	s.log.Info("maildrop opened", "messages", count, "octets", size)
	return s.okNil(fmt.Sprintf("Maildrop locked and ready, %d messages (%d octets)", count, size))
}

// okNil writes a positive reply and returns nil, for handlers whose last
// word it is.
func (s *session) okNil(text string) error {
	s.ok(text)
	return nil
}
