package imapserver

import (
	"postel/internal/auth"
	"postel/internal/store"
)

// A session follows its account from login on (store.WatchAccount): when
// an operator deletes or disables the account, the session ends at once
// with a BYE naming why (RFC 9051 §7.1.5), whether it waits for a command,
// idles or runs one (then after its tagged response). The watch stops
// with the session.

// watchAccount starts following the account of id, which just logged in.
func (s *session) watchAccount(id auth.Identity) {
	s.stopWatch = store.WatchAccount(s.srv.st, id.AccountID, func(e store.AccountEnd) {
		text := "Account deleted"
		if e == store.AccountDisabled {
			text = "Account disabled"
		}
		s.revoke(text)
	})
}

// revoke ends the session from another goroutine, as interrupt does for
// Shutdown, with text as the BYE.
func (s *session) revoke(text string) {
	s.revoked.Store(&text)
	s.interrupt()
}

// goodbye is the text of the BYE of a session interrupted while it
// waited or worked: its account's end, or the server's shutdown.
func (s *session) goodbye() string {
	if t := s.revoked.Load(); t != nil {
		return *t
	}
	return "Server shutting down"
}

// selectedGone is the BYE of a session whose selected mailbox was deleted
// (RFC 2180 §3: the server may end such a session): with the whole
// account, which the watch may not have told yet, or alone.
func (s *session) selectedGone() string {
	if t := s.revoked.Load(); t != nil {
		return *t
	}
	if _, err := s.srv.st.AccountByID(s.ctx(), s.user.AccountID); storeNotFound(err) {
		return "Account deleted"
	}
	return "Selected mailbox was deleted"
}
