package imapserver

import (
	"postel/internal/imap"
)

// Quotas (RFC 9208): one quota root, "", for the whole account, with the
// STORAGE resource when the operator set a limit (`postel user quota`).

// GETQUOTAROOT (RFC 9208 §4.3).
func (s *session) cmdGetQuotaRoot(cmd *imap.Command) error {
	a := cmd.Args.(*imap.MailboxArgs)
	ref, mb, err := s.resolve(a.Mailbox, rightRead)
	if err != nil {
		return err
	}
	if ref.shared() {
		// Its owner's quota is the owner's business: no root named.
		s.w.Atom("* QUOTAROOT ")
		s.w.Mailbox(mb.Name)
		s.w.CRLF()
		return nil
	}
	acct, err := s.srv.st.AccountByID(s.ctx(), s.user.AccountID)
	if err != nil {
		return err
	}
	s.w.Atom("* QUOTAROOT ")
	s.w.Mailbox(mb.Name)
	if acct.QuotaBytes > 0 {
		s.w.Atom(` ""`)
	}
	s.w.CRLF()
	if acct.QuotaBytes > 0 {
		return s.writeQuota(acct.QuotaBytes)
	}
	return nil
}

// GETQUOTA (RFC 9208 §4.2).
func (s *session) cmdGetQuota(cmd *imap.Command) error {
	a := cmd.Args.(*imap.QuotaArgs)
	acct, err := s.srv.st.AccountByID(s.ctx(), s.user.AccountID)
	if err != nil {
		return err
	}
	if a.Root != "" || acct.QuotaBytes <= 0 {
		return no(codeNonExistent, "No such quota root")
	}
	return s.writeQuota(acct.QuotaBytes)
}

// writeQuota writes the QUOTA response of the root "": STORAGE in units
// of 1024 octets (RFC 9208 §5.1), usage rounded up.
func (s *session) writeQuota(limit int64) error {
	used, _, err := s.srv.st.Usage(s.ctx(), s.user.AccountID)
	if err != nil {
		return err
	}
	s.w.Atom(`* QUOTA "" (STORAGE `)
	s.w.Number(uint64((used + 1023) / 1024))
	s.w.SP()
	s.w.Number(uint64(limit / 1024))
	s.w.Atom(")")
	s.w.CRLF()
	return nil
}

// SETQUOTA (RFC 9208 §4.4): quotas are the operator's.
func (s *session) cmdSetQuota(cmd *imap.Command) error {
	return no(codeNoPerm, "Quotas are set by the administrator")
}
