// Package auth holds accounts' credentials and authentication, shared by
// SMTP submission, IMAP and POP3: password hashing (argon2id), SCRAM-SHA-256
// keys, the SASL mechanisms SCRAM-SHA-256, PLAIN and LOGIN, and the
// throttling of failed logins.
//
// Invariants:
//   - Passwords are never logged, kept or put in an error.
//   - Every error from Login and from a SASL server's Next is, or wraps, one
//     of ErrAuthFailed, ErrThrottled, ErrMalformed or ErrUnavailable; their
//     texts are safe to send to clients, but protocol servers should map them
//     to their own replies; for SMTP (RFC 4954 §6): ErrAuthFailed 535 5.7.8,
//     ErrThrottled and ErrUnavailable 454 4.7.0, ErrMalformed 501 5.5.2.
//   - A wrong password, an unknown user and a disabled account look the
//     same to the client, in reply and in timing.
//   - No stranger can lock a user out: failures lock out their source, never
//     the account (Throttle), and an attempt is counted before its password
//     is hashed, so parallel attempts check no more passwords than the
//     limit allows.
//   - The password hash is shared fairly between sources (hashScheduler): a
//     source refused by the throttle is answered without hashing, and a
//     flood from some sources does not queue users from others behind it.
//     A full hash queue gives ErrBusy, which wraps ErrUnavailable.
package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/xdg-go/scram"

	"postel/internal/metrics"
	"postel/internal/store"
)

// Accounts is what auth needs from the store (store.Store satisfies it).
type Accounts interface {
	Account(ctx context.Context, address string) (store.Account, error) // store.ErrNotFound if none
}

// Identity is who authenticated.
type Identity struct {
	AccountID int64
	Address   string
}

// Errors of Login and of the SASL servers; test with errors.Is.
var (
	ErrAuthFailed = errors.New("authentication failed")               // wrong user/password, unknown user, disabled account: indistinguishable to the client
	ErrThrottled  = errors.New("too many failed attempts, try later") // temporary lockout
	ErrMalformed  = errors.New("malformed SASL exchange")
	// ErrAuthzFailed wraps ErrAuthFailed: the credentials were right, but
	// the authentication identity may not act as the authorization
	// identity it asked for (RFC 4616 §2). It is only returned once the
	// password verified, so it tells the client nothing an attempt
	// without an authzid would not (RFC 5530 §3 AUTHORIZATIONFAILED).
	// Protocols without such a reply may treat it as ErrAuthFailed.
	ErrAuthzFailed = fmt.Errorf("%w: not authorized to act as that identity", ErrAuthFailed)
	// ErrUnavailable is a server fault (the store failed, or the request was
	// cancelled): a temporary failure, not the client's.
	ErrUnavailable = errors.New("authentication temporarily unavailable")
	// ErrBusy wraps ErrUnavailable: too many logins wait for the password
	// hash (ThrottleConfig.HashQueue). It is the server's condition, not a
	// fault of the client, who may have never failed: so not ErrThrottled,
	// whose text blames failed attempts and which POP3 counts as a client
	// error.
	ErrBusy = fmt.Errorf("%w: too many logins waiting", ErrUnavailable)
	// ErrUnknownMechanism is returned by NewServer for a mechanism not in
	// Mechanisms.
	ErrUnknownMechanism = errors.New("unsupported SASL mechanism")
)

// maxUsernameLen bounds user names: an address is at most 254 octets
// (RFC 5321 §4.5.3.1.3 path of 256, less the angle brackets).
const maxUsernameLen = 254

// Authenticator checks credentials against Accounts, counting failures in a
// Throttle and sharing the password hash among sources as the Throttle's
// config says. It is safe for concurrent use.
type Authenticator struct {
	// Metrics counts the logins by protocol and result (ok, failed,
	// refused); nil for none. Set it before the first login.
	Metrics *metrics.Metrics

	accounts Accounts
	th       *Throttle
	sched    *hashScheduler
	log      *slog.Logger
	secret   []byte                                     // keys the fake SCRAM credentials of unknown users
	sleep    func(ctx context.Context, d time.Duration) // waits the failure delay; tests replace it

	// argon checks a password against a parsed hash (checkArgon); tests
	// slow it down. hashes counts the calls: passwords actually hashed.
	argon  func(p argonParams, salt, want []byte, password string) bool
	hashes atomic.Int64
	// proofs counts SCRAM proofs actually checked.
	proofs atomic.Int64

	// scramNonce, when set, makes the server's part of SCRAM nonces;
	// nil is the scram package's default (24 random bytes). Fuzzing fixes it.
	scramNonce scram.NonceGeneratorFcn

	dummyOnce sync.Once
	dummyHash string // checked against when there is no real hash, to take the same time
}

// NewAuthenticator returns an Authenticator. A nil th gets a Throttle with
// DefaultThrottleConfig; a nil log gets slog.Default().
func NewAuthenticator(accounts Accounts, th *Throttle, log *slog.Logger) *Authenticator {
	if th == nil {
		th = NewThrottle(DefaultThrottleConfig())
	}
	if log == nil {
		log = slog.Default()
	}
	secret := make([]byte, 32)
	rand.Read(secret) // never fails (crypto/rand)
	cfg := th.cfg
	return &Authenticator{
		accounts: accounts,
		th:       th,
		sched:    newHashScheduler(cfg.HashConcurrency, cfg.HashPerSource, cfg.HashQueue),
		log:      log,
		secret:   secret,
		sleep:    sleepCtx,
		argon:    checkArgon,
	}
}

// Mechanisms lists the SASL mechanisms offered: "SCRAM-SHA-256", "PLAIN", "LOGIN".
func (a *Authenticator) Mechanisms() []string {
	return []string{mechSCRAM, mechPlain, mechLogin}
}

// Login checks a username (full email address, case-insensitive) and password, for SMTP AUTH
// PLAIN/LOGIN, IMAP LOGIN and POP3 USER/PASS. protocol ("smtp","imap","pop3") and remote are
// for throttling and the log line. A source locked out or at its failure limit gets
// ErrThrottled, and a full hash queue ErrBusy, without the password being checked (see
// Throttle for the rules). Every failure and refusal is logged (slog, at Info/Warn: protocol,
// remote IP, username, the limit; NEVER the password) and counted; success forgives the
// source's failures against that account. Sleeps the throttle delay on failure (respecting
// ctx).
func (a *Authenticator) Login(ctx context.Context, protocol string, remote netip.Addr, username, password string) (Identity, error) {
	return a.check(ctx, attempt{protocol: protocol, remote: remote}, "", username, password)
}

// attempt describes one authentication for throttling and logging.
type attempt struct {
	protocol string
	mech     string // "" for Login
	remote   netip.Addr
}

// logAttrs are the attributes of every log line about an attempt.
func (at attempt) logAttrs(username string) []any {
	attrs := []any{"protocol", at.protocol, "remote", at.remote.String()}
	if at.mech != "" {
		attrs = append(attrs, "mech", at.mech)
	}
	if username != "" {
		attrs = append(attrs, "username", logName(username))
	}
	return attrs
}

// check verifies a user name and password, for Login, PLAIN and LOGIN.
// authzid, when not empty, must name the same account as username.
//
// Order matters: a source that is blocked is refused before the account is
// looked up (unless its failures against that account could have been
// forgiven by an unlock, which only the account's AuthEpoch tells), and
// the attempt is counted (reserved) before its password is hashed.
func (a *Authenticator) check(ctx context.Context, at attempt, authzid, username, password string) (Identity, error) {
	user := strings.ToLower(username)
	if !validUsername(username) {
		user = "" // not tracked: it cannot name an account
	}
	src, acctKey := sourceKey(at.remote), accountKey(user)
	if r, refused, against := a.th.blocked(src, acctKey); refused && !against {
		return Identity{}, a.refuse(at, username, r)
	}
	if r, refused := a.sharedBlocked(ctx, src); refused {
		return Identity{}, a.refuse(at, username, r)
	}

	var acct store.Account
	var reason string
	if user == "" {
		reason = "invalid user name"
	} else {
		var err error
		acct, err = a.accounts.Account(ctx, user)
		switch {
		case errors.Is(err, store.ErrNotFound):
			reason = "unknown user"
		case err != nil:
			a.log.Error("auth: account lookup failed", append(at.logAttrs(username), "err", err)...)
			return Identity{}, ErrUnavailable
		}
		a.th.sync(src, acctKey, acct.AuthEpoch)
	}
	res, r, ok := a.th.reserve(src, acctKey, acct.AuthEpoch)
	if !ok {
		return Identity{}, a.refuse(at, username, r)
	}
	defer res.giveBack()
	switch {
	case reason == "invalid user name":
		return a.fail(ctx, at, res, username, reason)
	case len(password) > MaxPasswordLen:
		return a.fail(ctx, at, res, username, "password too long")
	}

	hash := acct.Credentials.PasswordHash
	if reason != "" {
		hash = a.dummy()
	}
	ok, err := a.verify(ctx, src, hash, password)
	switch {
	case errors.Is(err, errBadHash):
		a.log.Warn("auth: stored password hash is unusable", at.logAttrs(username)...)
		reason = "stored password hash unusable"
	case errors.Is(err, ErrBusy):
		return Identity{}, a.refuse(at, username, refusal{limit: limitQueue})
	case err != nil:
		return Identity{}, ErrUnavailable // ctx ended while waiting to hash
	case reason == "" && !ok:
		reason = "wrong password"
	case reason == "" && acct.Disabled:
		reason = "account disabled"
	}
	if reason != "" {
		return a.fail(ctx, at, res, username, reason)
	}
	if authzid != "" && strings.ToLower(authzid) != user {
		// RFC 4616 §2: the credentials are verified first, then whether
		// they permit acting as the authzid; whom an authcid may act as
		// is the server's choice: here, only itself. Checked only after
		// the password verified (as Dovecot does), so the reply can say
		// AUTHORIZATIONFAILED (RFC 5530 §3) without telling anything of a
		// wrong password; it still counts as a failure for the throttle.
		a.fail(ctx, at, res, username, "authorization identity differs")
		return Identity{}, ErrAuthzFailed
	}
	return a.succeed(ctx, at, res, acct), nil
}

// verify checks password against an encoded argon2id hash, computing the
// hash in the turn the scheduler gives the source src. Its error is
// errBadHash (nothing computed), ErrBusy or the context's error.
func (a *Authenticator) verify(ctx context.Context, src, encoded, password string) (bool, error) {
	p, salt, want, err := parseArgon(encoded)
	if err != nil {
		return false, err
	}
	release, err := a.sched.acquire(ctx, src)
	if err != nil {
		return false, err
	}
	defer release()
	a.hashes.Add(1)
	return a.argon(p, salt, want, password), nil
}

// refuse logs a refusal before any password check, naming the limit, and
// returns its error: ErrBusy for a full hash queue, else ErrThrottled.
func (a *Authenticator) refuse(at attempt, username string, r refusal) error {
	attrs := append(at.logAttrs(username), "limit", r.limit)
	if r.retryIn > 0 {
		attrs = append(attrs, "retry_in", r.retryIn.Round(time.Second))
	}
	a.log.Info("auth refused", attrs...)
	a.Metrics.Login(at.protocol, metrics.LoginRefused)
	if r.limit == limitQueue {
		return ErrBusy
	}
	return ErrThrottled
}

// fail counts and logs a failed attempt, waits its delay and returns
// ErrAuthFailed.
func (a *Authenticator) fail(ctx context.Context, at attempt, res *reservation, username, reason string) (Identity, error) {
	delay, lockout := res.fail()
	a.sharedFail(ctx, res.src, res.acct)
	attrs := append(at.logAttrs(username), "reason", reason)
	a.log.Info("auth failed", append(attrs, "delay", delay)...)
	a.Metrics.Login(at.protocol, metrics.LoginFailed)
	if lockout {
		a.log.Warn("auth lockout started", append(at.logAttrs(username), "limit", limitLocked, "lockout", a.th.cfg.Lockout)...)
	}
	a.sleep(ctx, delay)
	return Identity{}, ErrAuthFailed
}

// succeed ends the reservation as a success, which forgives the source's
// failures against this account only, and logs it.
func (a *Authenticator) succeed(ctx context.Context, at attempt, res *reservation, acct store.Account) Identity {
	res.succeed()
	a.sharedSucceed(ctx, res.src, res.acct)
	a.log.Info("auth succeeded", append(at.logAttrs(acct.Address), "account", acct.ID)...)
	a.Metrics.Login(at.protocol, metrics.LoginOK)
	return Identity{AccountID: acct.ID, Address: acct.Address}
}

// malformed logs a malformed exchange. It is not counted as a failure: no
// password was tried.
func (a *Authenticator) malformed(at attempt, username string, detail error) {
	a.log.Info("auth malformed", append(at.logAttrs(username), "err", detail)...)
}

// dummy returns a hash in the current parameters to check passwords of
// unknown users against, so that they take as long as known ones.
func (a *Authenticator) dummy() string {
	a.dummyOnce.Do(func() {
		p := hashArgon
		salt := make([]byte, p.saltLen)
		rand.Read(salt)
		a.dummyHash = encodeArgon(p, salt, argonKey(p, string(salt), salt))
	})
	return a.dummyHash
}

// validUsername reports whether s can be an account name: 1 to
// maxUsernameLen bytes of UTF-8 without control characters.
func validUsername(s string) bool {
	if s == "" || len(s) > maxUsernameLen || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// logName bounds a client-supplied name for logging.
func logName(s string) string {
	if len(s) > maxUsernameLen {
		s = s[:maxUsernameLen] + "..."
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
