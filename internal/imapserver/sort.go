package imapserver

import (
	"bytes"
	"strings"

	"postel/internal/imap"
	"postel/internal/imap/thread"
	"postel/internal/message"
)

// SORT and UID SORT (RFC 5256 §3).
func (s *session) cmdSort(cmd *imap.Command) error {
	a := cmd.Args.(*imap.SortArgs)
	defer s.startProgress(cmd)() // RFC 9585
	if err := checkCharset(a.Charset); err != nil {
		return err
	}
	if err := s.checkContextTag(cmd, a.Return); err != nil {
		return err
	}
	if err := s.update(cmd.UID); err != nil {
		return err
	}
	res, err := s.search(a.Key, true)
	if err != nil {
		return err
	}
	msgs := s.threadMsgs(res)
	sorted := thread.Sort(msgs, a.Criteria)
	if a.HasReturn {
		s.sortESearch(cmd, a, sorted) // ESORT, RFC 5267 §3 (esort.go)
		return nil
	}
	s.w.Atom("* SORT")
	for _, m := range sorted {
		s.w.SP()
		if cmd.UID {
			s.w.Number(uint64(m.UID))
		} else {
			s.w.Number(uint64(m.SeqNum))
		}
	}
	s.w.CRLF()
	return nil
}

// THREAD and UID THREAD (RFC 5256 §4): ORDEREDSUBJECT and REFERENCES.
func (s *session) cmdThread(cmd *imap.Command) error {
	a := cmd.Args.(*imap.ThreadArgs)
	defer s.startProgress(cmd)() // RFC 9585
	if err := checkCharset(a.Charset); err != nil {
		return err
	}
	if err := s.update(cmd.UID); err != nil {
		return err
	}
	res, err := s.search(a.Key, true)
	if err != nil {
		return err
	}
	msgs := s.threadMsgs(res)
	var threads []*thread.Thread
	if a.Algorithm == "REFERENCES" {
		threads = thread.References(msgs)
	} else {
		threads = thread.OrderedSubject(msgs)
	}
	s.w.Atom("* THREAD") // RFC 5256 §4: thread-data = "THREAD" [SP 1*thread-list]
	if f := thread.Format(threads, cmd.UID); f != "" {
		s.w.SP()
		s.w.Atom(f)
	}
	s.w.CRLF()
	return nil
}

// threadMsgs describes the messages found for sorting and threading.
func (s *session) threadMsgs(res []found) []thread.Msg {
	v := s.sel
	out := make([]thread.Msg, len(res))
	for k, f := range res {
		m := &v.msgs[f.i]
		meta := f.meta
		out[k] = thread.Msg{
			SeqNum: uint32(f.i + 1), UID: m.uid, Internal: m.internalDate(), Size: m.size,
			Subject:    meta.Subject,
			MessageID:  meta.MessageID,
			InReplyTo:  meta.InReplyTo,
			References: meta.References,
		}
		// RFC 5256 §3: FROM, TO and CC sort by the addr-mailbox of the
		// first address, taken from the envelope parsed at delivery (the
		// display text is ambiguous when a name holds a comma).
		if env, err := message.UnmarshalEnvelope(meta.Envelope); err == nil {
			out[k].From, out[k].To, out[k].Cc = firstMailbox(env.From), firstMailbox(env.To), firstMailbox(env.Cc)
			out[k].DisplayFrom, out[k].DisplayTo = displayValue(env.From), displayValue(env.To) // RFC 5957
		}
		if !meta.Date.IsZero() {
			out[k].Sent = meta.Date
		}
	}
	return out
}

// firstMailbox is the addr-mailbox of the first address of an ENVELOPE
// address list: RFC 5256 §3 sorts on it, and for a list starting with a
// group it is the group name (RFC 9051 §7.5.2: the start of a group is an
// address with a NIL host and the group name as mailbox).
func firstMailbox(list []message.Address) string {
	if len(list) == 0 {
		return ""
	}
	return list[0].Mailbox
}

// splitFields splits a header block into its fields, unfolded.
func splitFields(raw []byte) []string {
	var out []string
	for _, ln := range bytes.Split(raw, []byte("\n")) {
		ln = bytes.TrimRight(ln, "\r")
		switch {
		case len(ln) == 0:
		case ln[0] == ' ' || ln[0] == '\t':
			if len(out) > 0 {
				out[len(out)-1] += " " + strings.TrimSpace(string(ln))
			}
		default:
			out = append(out, string(ln))
		}
	}
	return out
}
