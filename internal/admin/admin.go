// Package admin holds the operator's commands (accounts, domains, aliases,
// mailboxes, the outbound queue, junk rules, DKIM keys) as functions over
// the store, with one implementation for the two ways they run:
//   - in the CLI's own process on the store, when no server runs
//     (cmd/postel opens the store and calls Exec);
//   - in the running server's process on its live store, for the CLI
//     through the control socket (internal/control): then what they
//     change reaches open sessions at once, since the server's store
//     announces it (a deleted account's sessions end), and queue commands
//     wake the live queue.
//
// Each command has a name ("user del"), JSON arguments and a JSON result
// (commands.go): the CLI builds the same request either way, and the
// result it prints is the same.
//
// Errors are *Error values whose text a person reads ("no account
// alice@example.org"), never a store's internal wording; an unexpected
// error passes through as it is.
package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"postel/internal/store"
)

// Admin runs admin commands on one store.
type Admin struct {
	st      store.Store
	dataDir string
	kick    func()
	reload  func(context.Context) error
}

// Options tell New about the place the commands run in.
type Options struct {
	// DataDir is the data directory: DKIM keys live in DataDir/dkim.
	DataDir string
	// Kick wakes the running server's queue (queue.Queue.Kick); nil when
	// no server runs, and then "queue kick" is refused and "queue retry"
	// only makes the entry due.
	Kick func()
	// Reload reads the configuration, certificates and DKIM keys again in
	// the running server; nil when no server runs ("reload" is refused).
	Reload func(context.Context) error
}

// New returns the commands over st.
func New(st store.Store, opts Options) *Admin {
	return &Admin{st: st, dataDir: opts.DataDir, kick: opts.Kick, reload: opts.Reload}
}

// Kinds of Error, as the control socket carries them.
const (
	KindNotFound = "not_found" // no such account, domain, mailbox, ...
	KindExists   = "exists"    // it exists already
	KindInUse    = "in_use"    // something depends on it
	KindInvalid  = "invalid"   // a malformed argument
	KindRefused  = "refused"   // not allowed, or not now
)

// Error is a refusal of a command, worded for the operator.
type Error struct {
	Kind string
	Text string
	err  error // the store's sentinel, for errors.Is; nil when none
}

func (e *Error) Error() string { return e.Text }

// Unwrap lets errors.Is match the store's sentinel (store.ErrNotFound...).
func (e *Error) Unwrap() error { return e.err }

// ErrorKind is the kind the control socket carries.
func (e *Error) ErrorKind() string { return e.Kind }

// refusal makes an Error of kind; the store sentinel matching the kind is
// kept for errors.Is.
func refusal(kind, format string, args ...any) *Error {
	var sentinel error
	switch kind {
	case KindNotFound:
		sentinel = store.ErrNotFound
	case KindExists:
		sentinel = store.ErrExists
	case KindInUse:
		sentinel = store.ErrInUse
	case KindInvalid:
		sentinel = store.ErrInvalid
	}
	return &Error{Kind: kind, Text: fmt.Sprintf(format, args...), err: sentinel}
}

// shown is how an address the operator typed is named in messages: its
// canonical form when it has one, else as typed.
func shown(address string) string {
	if a, err := store.CanonicalAddress(address, true); err == nil {
		return a
	}
	return strings.TrimSpace(address)
}

// shownDomain is shown for a domain name.
func shownDomain(name string) string {
	if d, err := store.CanonicalDomain(name); err == nil {
		return d
	}
	return strings.TrimSpace(name)
}

// noAccount is the refusal for an account that does not exist (or whose
// address is malformed, which no account has).
func noAccount(address string) *Error {
	return refusal(KindNotFound, "no account %s", shown(address))
}

// accountErr words a store error of a command on the account at address.
func accountErr(address string, err error) error {
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return noAccount(address)
	}
	return err
}

// account reads the account at address.
func (a *Admin) account(ctx context.Context, address string) (store.Account, error) {
	acct, err := a.st.Account(ctx, address)
	return acct, accountErr(address, err)
}

// junkStore is the store as the keeper of junk rules.
func (a *Admin) junkStore() (store.JunkStore, error) {
	js, ok := a.st.(store.JunkStore)
	if !ok {
		return nil, fmt.Errorf("admin: %T keeps no junk rules", a.st)
	}
	return js, nil
}
