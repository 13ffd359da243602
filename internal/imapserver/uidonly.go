package imapserver

import (
	"postel/internal/imap"
)

// UIDONLY (RFC 9586): once a client has sent ENABLE UIDONLY, message
// sequence numbers are gone from the session both ways.
//
//   - A command that would take sequence numbers is refused with BAD
//     [UIDREQUIRED]: the non-UID forms of FETCH, STORE, SEARCH, COPY,
//     MOVE, SORT, THREAD and REPLACE, a search program with a sequence
//     set key (in UID SEARCH, UID SORT, UID THREAD), and the
//     seq-match-data of SELECT's QRESYNC parameter (uidRequired).
//   - FETCH responses, solicited or not, become UIDFETCH responses
//     keyed by UID, which carry UID only when the client asked for it
//     (fetchHead).
//   - EXPUNGE responses become VANISHED, as with QRESYNC (sendExpunges).
//   - SELECT's UNSEEN response code (IMAP4rev1), a sequence number, is
//     left out (select.go).
//   - EXISTS is still sent (SELECT, new messages), and UID SEARCH answers
//     UIDs as ever.
//
// The rest of the server keeps its message numbers internally; only what
// crosses the wire changes, through the small hooks that call this file.

// codeUIDRequired is the response code of RFC 9586 §3.
const codeUIDRequired = "UIDREQUIRED"

// badUIDRequired refuses a use of sequence numbers under UIDONLY.
var badUIDRequired = &response{Status: "BAD", Code: codeUIDRequired, Text: "Message sequence numbers are not allowed after ENABLE UIDONLY"}

// uidRequired refuses a command that uses message sequence numbers once
// UIDONLY is enabled; nil otherwise. RFC 9586 §3: the commands with a UID
// form (the table's uid) take sequence numbers in their other form, but
// EXPUNGE, whose UID form adds a set the plain one has not.
func (s *session) uidRequired(c command, cmd *imap.Command) error {
	if !s.uidonly {
		return nil
	}
	if c.uid && !cmd.UID && cmd.Name != "EXPUNGE" {
		return badUIDRequired
	}
	// RFC 9586 §3: QRESYNC's seq-match-data pairs sequence numbers with
	// UIDs.
	if a, ok := cmd.Args.(*imap.SelectArgs); ok && a.QResync != nil && a.QResync.KnownSeqNums != nil {
		return badUIDRequired
	}
	if hasSeqSetKey(cmd.SearchKey()) {
		return badUIDRequired
	}
	return nil
}

// hasSeqSetKey reports whether a search program names messages by
// sequence number (a sequence-set key; "$" is the saved result, UIDs).
func hasSeqSetKey(k *imap.SearchKey) bool {
	if k == nil {
		return false
	}
	if k.Op == "SEQSET" && (k.Set == nil || !k.Set.Saved) {
		return true
	}
	for _, c := range k.Children {
		if hasSeqSetKey(c) {
			return true
		}
	}
	return false
}

// fetchHead writes the start of the FETCH response of s.sel.msgs[i]:
// "* n FETCH (", or under UIDONLY "* uid UIDFETCH (" (RFC 9586).
// It reports whether the response must still carry the UID item when it
// would have (UID FETCH, CONDSTORE): not under UIDONLY, where the UID
// heads the response and UID is sent only when asked for by name.
func (s *session) fetchHead(i int) (uidItem bool) {
	w := s.w
	w.Star()
	if s.uidonly {
		w.Number(uint64(s.sel.msgs[i].uid))
		w.Atom(" UIDFETCH (")
		return false
	}
	w.Number(uint64(i + 1))
	w.Atom(" FETCH (")
	return true
}
