package imapserver

import (
	"slices"
	"sort"
	"strings"

	"postel/internal/imap"
)

// CAPABILITY (RFC 9051 §6.1.1).
func (s *session) cmdCapability(cmd *imap.Command) error {
	s.w.Untagged("CAPABILITY " + s.capabilities())
	return nil
}

// NOOP (RFC 9051 §6.1.2) and CHECK (RFC 3501 §6.4.1): nothing but the
// pending updates, which run sends after every command.
func (s *session) cmdNoop(cmd *imap.Command) error { return nil }

// LOGOUT (RFC 9051 §6.1.3).
func (s *session) cmdLogout(cmd *imap.Command) error {
	s.w.StatusResponse("", "BYE", "", "Logging out")
	if s.sel != nil {
		s.sel.close()
		s.sel = nil
	}
	s.state = stateLogout
	return nil
}

// ID (RFC 2971): the client's identification is logged; the server names
// itself.
func (s *session) cmdID(cmd *imap.Command) error {
	a := cmd.Args.(*imap.IDArgs)
	if len(a.Params) > 0 {
		keys := make([]string, 0, len(a.Params))
		for k := range a.Params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		attrs := make([]any, 0, 2*len(keys))
		for _, k := range keys {
			attrs = append(attrs, "id_"+k, a.Params[k])
		}
		s.log.Info("client identified", attrs...)
	}
	s.w.Raw(`* ID ("name" "Postel")`)
	s.w.CRLF()
	return nil
}

// ENABLE (RFC 5161; RFC 9051 §6.3.1): the extensions that change what the
// server sends. The untagged ENABLED lists those newly enabled.
func (s *session) cmdEnable(cmd *imap.Command) error {
	a := cmd.Args.(*imap.EnableArgs)
	var enabled []string
	add := func(name string, on *bool) {
		if !*on {
			*on = true
			enabled = append(enabled, name)
		}
	}
	for _, c := range a.Capabilities {
		switch c {
		case "IMAP4REV2":
			add("IMAP4rev2", &s.rev2)
			s.setUTF8()
		case "UTF8=ACCEPT":
			add("UTF8=ACCEPT", &s.utf8)
			s.setUTF8()
		case "CONDSTORE":
			add("CONDSTORE", &s.condstore)
		case "QRESYNC":
			// RFC 7162 §3.2.3: QRESYNC implies CONDSTORE.
			add("QRESYNC", &s.qresync)
			s.condstore = true
		case "UIDONLY": // RFC 9586
			add("UIDONLY", &s.uidonly)
		}
	}
	s.w.Untagged(strings.TrimSpace("ENABLED " + strings.Join(slices.Compact(enabled), " ")))
	return nil
}

// setUTF8 switches mailbox names and strings to UTF-8 (RFC 6855 §3;
// IMAP4rev2 has them).
func (s *session) setUTF8() {
	s.utf8 = true
	s.r.SetUTF8(true)
	s.w.SetUTF8(true)
}

// enableCondStore turns CONDSTORE on because a command used it (RFC 7162
// §3.1: a "CONDSTORE enabling command"). In the selected state the
// client then learns the mailbox's HIGHESTMODSEQ at once.
func (s *session) enableCondStore() {
	if s.condstore {
		return
	}
	s.condstore = true
	if s.sel != nil {
		s.w.StatusResponse("", "OK", "HIGHESTMODSEQ "+utoa(s.sel.base), "Highest")
	}
}
