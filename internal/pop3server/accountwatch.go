package pop3server

import (
	"postel/internal/auth"
	"postel/internal/store"
)

// A session in the TRANSACTION state follows its account
// (store.WatchAccount): when an operator deletes or disables the account,
// the session ends at once, as it does at shutdown, with a -ERR saying why
// and without entering the UPDATE state (RFC 1939 §6: messages marked as
// deleted stay). The watch stops with the session.

// Replies ending a session whose account went.
var (
	errAccountDeleted  = &reply{code: codeSysPerm, text: "Account deleted"}
	errAccountDisabled = &reply{code: codeSysPerm, text: "Account disabled"}
)

// watchAccount starts following the account of id, which just logged in.
func (s *session) watchAccount(id auth.Identity) {
	s.stopWatch = store.WatchAccount(s.srv.st, id.AccountID, func(e store.AccountEnd) {
		r := errAccountDeleted
		if e == store.AccountDisabled {
			r = errAccountDisabled
		}
		s.revoked.Store(r)
		s.conn.Interrupt()
	})
}
