package auth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-sasl"
	"github.com/xdg-go/scram"

	"postel/internal/store"
)

// SASL mechanism names (RFC 4422 §3.1), as Mechanisms lists them.
const (
	mechSCRAM = "SCRAM-SHA-256" // RFC 7677
	mechPlain = "PLAIN"         // RFC 4616
	mechLogin = "LOGIN"         // draft-murchison-sasl-login
)

const (
	// maxPlainMsg bounds a PLAIN message: authzid, authcid, passwd and two NULs.
	maxPlainMsg = 2*maxUsernameLen + MaxPasswordLen + 2
	// maxSCRAMMsg bounds a SCRAM client message; real ones are a few hundred bytes.
	maxSCRAMMsg = 2048
)

// malformed returns an ErrMalformed with a detail safe to show the client.
func malformed(detail string) error {
	return fmt.Errorf("%w: %s", ErrMalformed, detail)
}

var errFinished = malformed("the exchange is already finished")

// NewServer returns a SASL server (github.com/emersion/go-sasl's
// sasl.Server) for mech, one of Mechanisms, in any case; another mech gives
// ErrUnknownMechanism. On success it calls done(id) before returning
// done=true; done may be nil.
//
//   - PLAIN (RFC 4616): authzid must be empty or name the authcid's account;
//     another gives ErrAuthzFailed, but only once the password verified
//     (else ErrAuthFailed, as without an authzid). SCRAM-SHA-256's authzid
//     likewise, once the proof verified.
//   - LOGIN (draft-murchison-sasl-login): challenges "Username:" and
//     "Password:"; an initial response is taken as the user name.
//   - SCRAM-SHA-256 (RFC 5802, RFC 7677) with the stored keys, without
//     channel binding: gs2 headers "n,," and "y,," are accepted, "p=" is
//     refused with an ErrMalformed that says so. The exchange ends with the
//     server-final-message as a challenge, to which the client answers with
//     an empty response (RFC 4422 §5, for protocols such as SMTP without
//     additional data with success).
//
// As in go-sasl, the first Next gets the client's initial response, or nil
// when there was none (an empty initial response is a non-nil empty slice).
// Failures are throttled and logged as in Login, and the errors of Next are
// those of Login or ErrMalformed. protocol and remote are as for Login; ctx
// bounds the store look-ups and the failure delays of the whole exchange.
func (a *Authenticator) NewServer(ctx context.Context, mech, protocol string, remote netip.Addr, done func(Identity)) (sasl.Server, error) {
	at := attempt{protocol: protocol, mech: strings.ToUpper(mech), remote: remote}
	if done == nil {
		done = func(Identity) {}
	}
	switch at.mech {
	case mechPlain:
		return &plainServer{a: a, ctx: ctx, at: at, done: done}, nil
	case mechLogin:
		return &loginServer{a: a, ctx: ctx, at: at, done: done}, nil
	case mechSCRAM:
		s := &scramServer{a: a, ctx: ctx, at: at, done: done}
		srv, err := scram.SHA256.NewServer(s.lookup)
		if err != nil {
			return nil, fmt.Errorf("auth: SCRAM server: %w", err)
		}
		if a.scramNonce != nil {
			srv.WithNonceGenerator(a.scramNonce)
		}
		s.conv = srv.NewConversation()
		return s, nil
	}
	return nil, fmt.Errorf("%w: %.40q", ErrUnknownMechanism, mech)
}

// plainServer is the server side of PLAIN (RFC 4616).
type plainServer struct {
	a    *Authenticator
	ctx  context.Context
	at   attempt
	done func(Identity)

	asked    bool // sent the empty challenge
	finished bool
}

func (s *plainServer) Next(response []byte) ([]byte, bool, error) {
	if s.finished {
		return nil, false, errFinished
	}
	if response == nil && !s.asked {
		// RFC 4616 §2 with RFC 4422 §5: no initial response, so the
		// server sends an empty challenge.
		s.asked = true
		return []byte{}, false, nil
	}
	s.finished = true
	authzid, authcid, passwd, err := parsePlain(response)
	if err != nil {
		s.a.malformed(s.at, "", err)
		return nil, false, err
	}
	id, err := s.a.check(s.ctx, s.at, authzid, authcid, passwd)
	if err != nil {
		return nil, false, err
	}
	s.done(id)
	return nil, true, nil
}

// parsePlain splits a PLAIN message (RFC 4616 §2):
//
//	message = [authzid] UTF8NUL authcid UTF8NUL passwd
//
// where authcid and passwd are 1*SAFE (UTF-8 without NUL). Errors never
// quote the message, which holds a password.
func parsePlain(msg []byte) (authzid, authcid, passwd string, err error) {
	if len(msg) > maxPlainMsg {
		return "", "", "", malformed("PLAIN message too long")
	}
	f := bytes.Split(msg, []byte{0})
	if len(f) != 3 {
		return "", "", "", malformed("PLAIN message must be authzid NUL authcid NUL passwd")
	}
	if len(f[1]) == 0 || len(f[2]) == 0 {
		return "", "", "", malformed("PLAIN authcid and passwd must not be empty")
	}
	if !utf8.Valid(f[0]) || !utf8.Valid(f[1]) || !utf8.Valid(f[2]) {
		return "", "", "", malformed("PLAIN message is not UTF-8")
	}
	return string(f[0]), string(f[1]), string(f[2]), nil
}

// loginServer is the server side of LOGIN (draft-murchison-sasl-login-00).
type loginServer struct {
	a    *Authenticator
	ctx  context.Context
	at   attempt
	done func(Identity)

	state    int // loginStart, loginUser, loginPass, loginDone
	username string
}

const (
	loginStart = iota
	loginUser  // sent "Username:"
	loginPass  // sent "Password:"
	loginDone
)

func (s *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch s.state {
	case loginStart:
		if len(response) == 0 {
			s.state = loginUser
			return []byte("Username:"), false, nil
		}
		// draft-murchison-sasl-login §2: the user name may come as the
		// initial response.
		return s.gotUsername(response)
	case loginUser:
		return s.gotUsername(response)
	case loginPass:
		s.state = loginDone
		if len(response) > MaxPasswordLen {
			err := malformed("LOGIN password too long")
			s.a.malformed(s.at, s.username, err)
			return nil, false, err
		}
		id, err := s.a.check(s.ctx, s.at, "", s.username, string(response))
		if err != nil {
			return nil, false, err
		}
		s.done(id)
		return nil, true, nil
	}
	return nil, false, errFinished
}

func (s *loginServer) gotUsername(response []byte) ([]byte, bool, error) {
	if len(response) > maxUsernameLen {
		s.state = loginDone
		err := malformed("LOGIN user name too long")
		s.a.malformed(s.at, "", err)
		return nil, false, err
	}
	s.username = string(response)
	s.state = loginPass
	return []byte("Password:"), false, nil
}

// scramServer is the server side of SCRAM-SHA-256 (RFC 5802, RFC 7677),
// driving a github.com/xdg-go/scram conversation.
type scramServer struct {
	a    *Authenticator
	ctx  context.Context
	at   attempt
	done func(Identity)
	conv *scram.ServerConversation

	state int // scramFirst, scramFinal, scramAck, scramDone
	asked bool

	// Set by lookup, during the first step.
	username     string
	src, acctKey string        // Throttle keys
	epoch        int64         // the account's AuthEpoch; 0 when there is none
	acct         store.Account // when its credentials are real
	reason       string        // why the credentials are fake; "" when real
	lookupErr    error         // ErrThrottled or ErrUnavailable, already logged
	authzDiffers bool          // the client-first-message's authzid is another user

	id Identity // set once the proof is verified
}

const (
	scramFirst = iota // waiting for client-first-message
	scramFinal        // sent server-first-message
	scramAck          // sent server-final-message
	scramDone
)

func (s *scramServer) Next(response []byte) ([]byte, bool, error) {
	switch s.state {
	case scramFirst:
		if response == nil && !s.asked {
			s.asked = true
			return []byte{}, false, nil
		}
		s.state = scramDone
		return s.first(response)
	case scramFinal:
		s.state = scramDone
		return s.final(response)
	case scramAck:
		s.state = scramDone
		if len(response) != 0 {
			err := malformed("expected an empty response after the server-final-message")
			s.a.malformed(s.at, s.username, err)
			return nil, false, err
		}
		s.done(s.id)
		return nil, true, nil
	}
	return nil, false, errFinished
}

func (s *scramServer) first(msg []byte) ([]byte, bool, error) {
	if err := checkClientFirst(msg); err != nil {
		s.a.malformed(s.at, "", err)
		return nil, false, err
	}
	s1, err := s.conv.Step(string(msg))
	if s.lookupErr != nil {
		return nil, false, s.lookupErr
	}
	if err != nil {
		s.a.malformed(s.at, s.username, err)
		return nil, false, malformed("invalid SCRAM client-first-message")
	}
	// We only let users act as themselves; refused once the proof is
	// verified (final), as for PLAIN (RFC 4616 §2 order, RFC 5530 §3).
	if az := s.conv.AuthzID(); az != "" && strings.ToLower(az) != strings.ToLower(s.username) {
		s.authzDiffers = true
	}
	s.state = scramFinal
	return []byte(s1), false, nil
}

// final checks the client's proof. The attempt is counted (reserved)
// before, so that parallel exchanges from one source check no more proofs
// than its failure limit allows.
func (s *scramServer) final(msg []byte) ([]byte, bool, error) {
	if len(msg) > maxSCRAMMsg || !utf8.Valid(msg) {
		err := malformed("invalid SCRAM client-final-message")
		s.a.malformed(s.at, s.username, err)
		return nil, false, err
	}
	res, r, ok := s.a.th.reserve(s.src, s.acctKey, s.epoch)
	if !ok {
		return nil, false, s.a.refuse(s.at, s.username, r)
	}
	defer res.giveBack() // a malformed message checks no proof
	s.a.proofs.Add(1)
	s2, err := s.conv.Step(string(msg))
	switch {
	case err != nil && s2 == scram.ErrInvalidProof:
		reason := s.reason
		if reason == "" {
			reason = "wrong password"
		}
		return s.fail(res, reason)
	case err != nil:
		s.a.malformed(s.at, s.username, err)
		return nil, false, malformed("invalid SCRAM client-final-message")
	case s.reason != "" || !s.conv.Valid():
		// Cannot happen: nobody knows the keys of fake credentials.
		return s.fail(res, "proof accepted without real credentials")
	case s.authzDiffers:
		// The credentials are right, but not for acting as the authzid:
		// an authorization failure (RFC 5530 §3), counted like any
		// failure; the server-final-message is not sent.
		s.fail(res, "authorization identity differs")
		return nil, false, ErrAuthzFailed
	}
	s.id = s.a.succeed(s.ctx, s.at, res, s.acct)
	s.state = scramAck
	return []byte(s2), false, nil
}

func (s *scramServer) fail(res *reservation, reason string) ([]byte, bool, error) {
	_, err := s.a.fail(s.ctx, s.at, res, s.username, reason)
	return nil, false, err
}

// lookup is the scram.CredentialLookup. An unknown user, a disabled account
// or one without SCRAM keys gets fake credentials, stable per user name, so
// that the exchange fails at the proof like a wrong password would and
// nobody learns which accounts exist (RFC 5802 §7 lets a server hide the
// real reason of a failure).
func (s *scramServer) lookup(username string) (scram.StoredCredentials, error) {
	s.username = username
	user := strings.ToLower(username)
	if !validUsername(username) {
		user = ""
		s.reason = "invalid user name"
	}
	s.src, s.acctKey = sourceKey(s.at.remote), accountKey(user)
	if r, refused, against := s.a.th.blocked(s.src, s.acctKey); refused && !against {
		s.lookupErr = s.a.refuse(s.at, username, r)
		return scram.StoredCredentials{}, s.lookupErr
	}
	if r, refused := s.a.sharedBlocked(s.ctx, s.src); refused {
		s.lookupErr = s.a.refuse(s.at, username, r)
		return scram.StoredCredentials{}, s.lookupErr
	}
	if user == "" {
		return s.a.fakeSCRAM(username), nil
	}
	acct, err := s.a.accounts.Account(s.ctx, user)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.reason = "unknown user"
	case err != nil:
		s.a.log.Error("auth: account lookup failed", append(s.at.logAttrs(username), "err", err)...)
		s.lookupErr = ErrUnavailable
		return scram.StoredCredentials{}, err
	}
	s.epoch = acct.AuthEpoch
	s.a.th.sync(s.src, s.acctKey, s.epoch)
	if r, refused, _ := s.a.th.blocked(s.src, s.acctKey); refused {
		s.lookupErr = s.a.refuse(s.at, username, r)
		return scram.StoredCredentials{}, s.lookupErr
	}
	switch {
	case s.reason != "":
	case acct.Disabled:
		s.reason = "account disabled"
	default:
		cred, err := parseSCRAM(acct.Credentials.SCRAMSHA256)
		if err == nil {
			s.acct = acct
			return cred, nil
		}
		s.reason = "account has no usable SCRAM-SHA-256 credentials"
	}
	return s.a.fakeSCRAM(user), nil
}

// fakeSCRAM returns credentials nobody can answer, derived from the
// Authenticator's secret so that the salt a user name gets does not change
// between attempts.
func (a *Authenticator) fakeSCRAM(user string) scram.StoredCredentials {
	mac := func(label string) []byte {
		m := hmac.New(sha256.New, a.secret)
		m.Write([]byte(label))
		m.Write([]byte{0})
		m.Write([]byte(user))
		return m.Sum(nil)
	}
	return scram.StoredCredentials{
		KeyFactors: scram.KeyFactors{Salt: string(mac("salt")[:scramSaltLen]), Iters: scramIterations},
		StoredKey:  mac("stored"),
		ServerKey:  mac("server"),
	}
}

// checkClientFirst checks what the scram package does not: a bound, UTF-8,
// and the gs2 channel-binding flag (RFC 5802 §7: gs2-cbind-flag is "n",
// "y" or "p=" cb-name). We offer no SCRAM-SHA-256-PLUS, so "p=" is refused:
// RFC 5802 §7's "channel-binding-not-supported".
func checkClientFirst(msg []byte) error {
	if len(msg) > maxSCRAMMsg {
		return malformed("SCRAM client-first-message too long")
	}
	if !utf8.Valid(msg) {
		return malformed("SCRAM client-first-message is not UTF-8")
	}
	flag, _, _ := bytes.Cut(msg, []byte(","))
	switch {
	case string(flag) == "n" || string(flag) == "y":
		return nil
	case bytes.HasPrefix(flag, []byte("p=")):
		return malformed(`channel binding is not supported: use gs2 header "n,," (SCRAM-SHA-256, not -PLUS)`)
	}
	return malformed(`SCRAM gs2 header must start with "n," or "y,"`)
}
