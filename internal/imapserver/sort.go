package imapserver

import (
	"bytes"
	"io"
	"strings"

	"postel/internal/imap"
	"postel/internal/imap/section"
	"postel/internal/imap/thread"
	"postel/internal/message"
	"postel/internal/store"
)

// SORT and UID SORT (RFC 5256 §3).
func (s *session) cmdSort(cmd *imap.Command) error {
	a := cmd.Args.(*imap.SortArgs)
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
	sorted := thread.Sort(msgs, a.Criteria)
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
		if err := s.loadReferences(msgs, res); err != nil {
			return err
		}
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
			Subject:   meta.Subject,
			From:      thread.SortAddress(meta.From),
			To:        thread.SortAddress(meta.To),
			Cc:        thread.SortAddress(meta.Cc),
			MessageID: meta.MessageID,
		}
		if !meta.Date.IsZero() {
			out[k].Sent = meta.Date
		}
	}
	return out
}

// loadReferences reads In-Reply-To and References, which the store does
// not keep, from each message's header.
func (s *session) loadReferences(msgs []thread.Msg, res []found) error {
	for k, f := range res {
		refs, irt, err := s.references(msgs[k].UID, f.meta)
		if storeNotFound(err) {
			continue // expunged meanwhile
		} else if err != nil {
			return err
		}
		msgs[k].References, msgs[k].InReplyTo = refs, irt
	}
	return nil
}

// references returns the msg-ids of a message's References and the first
// of its In-Reply-To.
func (s *session) references(uid uint32, meta *store.MessageMeta) (refs []string, inReplyTo string, err error) {
	root, err := message.UnmarshalStructure(meta.Structure)
	if err != nil {
		return nil, "", err
	}
	mr, err := s.srv.st.OpenMessage(s.ctx(), s.user.AccountID, s.sel.id, uid)
	if err != nil {
		return nil, "", err
	}
	defer mr.Close()
	r, n, err := section.Body(mr, mr.Size(), root, &imap.Section{Specifier: "HEADER.FIELDS", Fields: []string{"References", "In-Reply-To"}})
	if err != nil {
		return nil, "", err
	}
	raw, err := io.ReadAll(io.LimitReader(r, n))
	if err != nil {
		return nil, "", err
	}
	for _, f := range splitFields(raw) {
		name, value, _ := strings.Cut(f, ":")
		ids := msgIDs(value)
		switch {
		case strings.EqualFold(strings.TrimSpace(name), "References"):
			refs = append(refs, ids...)
		case inReplyTo == "" && len(ids) > 0:
			inReplyTo = ids[0]
		}
	}
	return refs, inReplyTo, nil
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

// maxRefs bounds the msg-ids taken from one field.
const maxRefs = 1000

// msgIDs returns the msg-ids (RFC 5322 §3.6.4) of a field value without
// their angle brackets.
func msgIDs(v string) []string {
	var out []string
	for len(out) < maxRefs {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			break
		}
		if id := strings.TrimSpace(v[i+1 : i+j]); id != "" {
			out = append(out, id)
		}
		v = v[i+j+1:]
	}
	return out
}
