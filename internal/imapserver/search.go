package imapserver

import (
	"errors"
	"io"
	"mime"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-message/charset"

	"postel/internal/imap"
	"postel/internal/imap/search"
	"postel/internal/imap/section"
	"postel/internal/message"
	"postel/internal/store"
)

// maxSearchText bounds the text of one message SEARCH TEXT and BODY look
// through.
const maxSearchText = 16 << 20

// checkCharset accepts the charsets Postel searches in (RFC 9051 §6.4.4:
// US-ASCII and UTF-8, which the search strings are as received).
func checkCharset(cs string) error {
	switch strings.ToUpper(cs) {
	case "", "UTF-8", "US-ASCII":
		return nil
	}
	return no(codeBadCharset, "Unsupported charset")
}

// found is one message a search matched.
type found struct {
	i    int // index in the view
	meta *store.MessageMeta
}

// search runs a search program over the view and returns the matches in
// sequence order, with their metadata when want asks for it (SORT and
// THREAD). Messages the client was not told of yet, and expunged ones,
// are left out. Text keys use the store's full-text index to find
// candidates when the program allows it, then check each exactly.
func (s *session) search(key *imap.SearchKey, wantMeta bool) ([]found, error) {
	v := s.sel
	if err := v.checkSeqNumbers(key); err != nil {
		return nil, err
	}
	cands := make([]int, 0, v.told)
	for i := range v.msgs[:v.told] {
		if !v.msgs[i].expunged {
			cands = append(cands, i)
		}
	}
	return s.searchIn(key, cands, wantMeta, s.prog)
}

// searchIn is search over some messages of the view (indexes in
// ascending order), telling the client of its progress through prog
// (INPROGRESS, inprogress.go; nil for none).
func (s *session) searchIn(key *imap.SearchKey, cands []int, wantMeta bool, prog *progress) ([]found, error) {
	v := s.sel
	needs := search.NeedsOf(key)
	if usesKey(key, "MODSEQ") {
		s.enableCondStore() // RFC 7162 §3.1
	}
	if len(needs.Terms) > 0 {
		uids, ok, err := s.srv.st.SearchText(s.ctx(), v.owner, v.id, needs.Terms, needs.Text)
		if err != nil {
			return nil, err
		}
		if ok {
			cands = slices.DeleteFunc(cands, func(i int) bool {
				_, in := slices.BinarySearch(uids, v.msgs[i].uid)
				return !in
			})
		}
	}
	total := len(cands) // the messages to look at, for progress reports
	needMeta := wantMeta || needs.Text || needs.Body || needs.Headers || usesMeta(key)
	needSent := usesKey(key, "SENTBEFORE") || usesKey(key, "SENTON") || usesKey(key, "SENTSINCE")
	emailID, threadID := usesKey(key, "EMAILID"), usesKey(key, "THREADID") // RFC 8474 §6
	sc := &search.Context{MaxSeq: uint32(len(v.msgs)), MaxUID: v.maxUID(), Saved: v.savedUIDs(), Now: time.Now()}
	var out []found
	for start := 0; start < len(cands); start += fetchBatch {
		batch := cands[start:min(start+fetchBatch, len(cands))]
		var metas map[uint32]store.MessageMeta
		if needMeta {
			uids := make([]uint32, len(batch))
			for k, i := range batch {
				uids[k] = v.msgs[i].uid
			}
			var err error
			if metas, err = s.srv.st.MessageMetas(s.ctx(), v.owner, v.id, uids); err != nil {
				return nil, err
			}
		}
		for k, i := range batch {
			prog.step(start+k, total)
			m := &v.msgs[i]
			sm := &search.Message{SeqNum: uint32(i + 1), UID: m.uid, ModSeq: m.modseq, Flags: m.flags(),
				InternalDate: m.internalDate(), SaveDate: m.saveDate(), Size: m.size}
			var meta *store.MessageMeta
			if needMeta {
				mm, ok := metas[m.uid]
				if !ok {
					continue // expunged meanwhile
				}
				meta = &mm
				sm.Subject, sm.From, sm.To, sm.Cc, sm.Bcc = mm.Subject, mm.From, mm.To, mm.Cc, mm.Bcc
				if needSent {
					sm.Sent = sentDate(&mm)
				}
			}
			var l *lazyMessage
			if meta != nil {
				l = &lazyMessage{s: s, uid: m.uid, meta: meta}
				sm.Header, sm.Text = l.header, l.text
			}
			s.searchObjectIDs(emailID, threadID, sm, m, meta)
			ok, err := search.Match(key, sm, sc)
			if l != nil {
				l.close()
			}
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, found{i: i, meta: meta})
			}
		}
	}
	return out, nil
}

// sentDate is the message's Date field in the zone it was written in:
// RFC 3501 §6.4.4 and RFC 9051 §6.4.4 compare the date of SENTON,
// SENTBEFORE and SENTSINCE "disregarding time and timezone", so a message
// of "Mon, 7 Dec 2026 23:30:00 -0800" is SENTON 7-Dec-2026 although that
// is 8 December in UTC. The envelope keeps the field as written; the
// stored time (UTC) serves when the envelope cannot be read. Zero when
// the message has no valid Date.
func sentDate(mm *store.MessageMeta) time.Time {
	if env, err := message.UnmarshalEnvelope(mm.Envelope); err == nil {
		if t := message.ParseDate(env.Date); !t.IsZero() {
			return t
		}
	}
	if mm.Date.IsZero() {
		return time.Time{}
	}
	return mm.Date.UTC()
}

// lazyMessage opens a message file only when a search key needs it.
type lazyMessage struct {
	s    *session
	uid  uint32
	meta *store.MessageMeta
	mr   store.MessageReader
	root *message.Part
	// fields are the header's values by lower-case name, read once for
	// all HEADER keys of a program.
	fields map[string][]string
}

func (l *lazyMessage) open() error {
	if l.mr != nil {
		return nil
	}
	root, err := message.UnmarshalStructure(l.meta.Structure)
	if err != nil {
		return err
	}
	mr, err := l.s.srv.st.OpenMessage(l.s.ctx(), l.s.sel.owner, l.s.sel.id, l.uid)
	if err != nil {
		return err
	}
	l.mr, l.root = mr, root
	return nil
}

func (l *lazyMessage) close() {
	if l.mr != nil {
		l.mr.Close()
	}
}

// text is search.Message.Text.
func (l *lazyMessage) text() (string, string, error) {
	if err := l.open(); err != nil {
		return "", "", err
	}
	return message.ExtractText(l.mr, l.root, maxSearchText)
}

// header is search.Message.Header: the values of the field in the
// message's header, unfolded and RFC 2047 decoded; nil when it cannot be
// read (the message went meanwhile).
func (l *lazyMessage) header(field string) []string {
	if l.fields == nil {
		l.fields = map[string][]string{}
		if l.open() != nil {
			return nil
		}
		r, n, err := section.Body(l.mr, l.mr.Size(), l.root, &imap.Section{Specifier: "HEADER"})
		if err != nil {
			return nil
		}
		raw, err := io.ReadAll(io.LimitReader(r, n))
		if err != nil {
			return nil
		}
		for _, f := range splitFields(raw) {
			name, _, ok := strings.Cut(f, ":")
			if !ok {
				continue
			}
			key := strings.ToLower(strings.TrimSpace(name))
			l.fields[key] = append(l.fields[key], fieldValues([]byte(f))...)
		}
	}
	return l.fields[strings.ToLower(field)]
}

var wordDecoder = mime.WordDecoder{CharsetReader: charset.Reader}

// fieldValues returns the values of header fields (as HEADER.FIELDS
// returns them), unfolded and RFC 2047 decoded.
func fieldValues(raw []byte) []string {
	fields := splitFields(raw)
	for i, f := range fields {
		_, v, _ := strings.Cut(f, ":")
		v = strings.TrimSpace(v)
		if d, err := wordDecoder.DecodeHeader(v); err == nil {
			v = d
		}
		fields[i] = v
	}
	return fields
}

// usesKey reports whether the program has a key with op.
func usesKey(k *imap.SearchKey, op string) bool {
	if k == nil {
		return false
	}
	if k.Op == op {
		return true
	}
	for _, c := range k.Children {
		if usesKey(c, op) {
			return true
		}
	}
	return false
}

// checkSeqNumbers answers BAD when a sequence set of the program names a
// message number beyond the last message, as FETCH and STORE do (resolve):
// RFC 9051 §9 seq-number. "*" and "$" stay valid.
func (v *mailboxView) checkSeqNumbers(k *imap.SearchKey) error {
	if k == nil {
		return nil
	}
	if k.Op == "SEQSET" && k.Set != nil && !k.Set.Saved {
		if _, err := v.resolve(*k.Set, false); err != nil {
			return err
		}
	}
	for _, c := range k.Children {
		if err := v.checkSeqNumbers(c); err != nil {
			return err
		}
	}
	return nil
}

// usesMeta reports whether the program reads the stored header fields.
func usesMeta(k *imap.SearchKey) bool {
	for _, op := range []string{"SUBJECT", "FROM", "TO", "CC", "BCC", "SENTBEFORE", "SENTON", "SENTSINCE", "THREADID"} {
		if usesKey(k, op) {
			return true
		}
	}
	return false
}

// SEARCH and UID SEARCH (RFC 9051 §6.4.4), with ESEARCH (RFC 4731; the
// only form in IMAP4rev2), SEARCHRES (RFC 5182) and MODSEQ (RFC 7162
// §3.1.5).
func (s *session) cmdSearch(cmd *imap.Command) (err error) {
	a := cmd.Args.(*imap.SearchArgs)
	defer s.startProgress(cmd)() // RFC 9585
	save := slices.Contains(a.Return, "SAVE")
	defer func() {
		// RFC 5182 §2.1: a SEARCH with the SAVE result option that fails
		// with NO (e.g. [BADCHARSET], or an internal error) sets $ to the
		// empty sequence; one that gets BAD (a sequence number past the
		// last message, [UIDREQUIRED]) MUST NOT change it.
		var r *response
		if err != nil && save && s.sel != nil && !(errors.As(err, &r) && r.Status == "BAD") {
			s.sel.saved = nil
		}
	}()
	if err := checkCharset(a.Charset); err != nil {
		return err
	}
	if err := s.checkContextTag(cmd, a.Return); err != nil {
		return err
	}
	if err := s.update(cmd.UID); err != nil {
		return err
	}
	res, err := s.search(a.Key, false)
	if err != nil {
		return err
	}
	v := s.sel
	nums := make([]uint32, len(res))
	var modseq uint64
	for k, f := range res {
		m := &v.msgs[f.i]
		nums[k] = uint32(f.i + 1)
		if cmd.UID {
			nums[k] = m.uid
		}
		modseq = max(modseq, m.modseq)
	}
	withModSeq := usesKey(a.Key, "MODSEQ") && len(nums) > 0
	if !a.HasReturn && !s.rev2 {
		s.w.Atom("* SEARCH")
		for _, n := range nums {
			s.w.SP()
			s.w.Number(uint64(n))
		}
		if withModSeq {
			s.w.Atom(" (MODSEQ ")
			s.w.Number(modseq)
			s.w.Close()
		}
		s.w.CRLF()
		return nil
	}
	opts := answerOpts(a.Return)
	if save {
		v.saved = savedResult(res, v, a.Return, a.Partial)
	}
	if len(opts) > 0 || !save {
		// RFC 5182 §2.4: SAVE alone, no ESEARCH response.
		e := &esearch{uid: cmd.UID, nums: nums, opts: opts, partial: a.Partial, withModSeq: withModSeq}
		if len(opts) == 0 {
			e.opts = []string{"ALL"}
		}
		for _, f := range res {
			e.modseqs = append(e.modseqs, v.msgs[f.i].modseq)
		}
		s.writeESearch(cmd.Tag, e) // esort.go
	}
	if slices.Contains(a.Return, "UPDATE") {
		s.startContext(cmd, a.Key, nil, s.resultMsgs(res)) // context.go
	}
	return nil
}

// savedResult is what SAVE keeps (RFC 5182 §2.4, RFC 9394 §3.2): with ALL
// or COUNT, all the results; else with PARTIAL, the results in its range
// and those MIN and MAX return; else with MIN and/or MAX, only those
// messages; else all the results.
func savedResult(res []found, v *mailboxView, opts []string, partial *imap.PartialRange) []uint32 {
	has := func(o string) bool { return slices.Contains(opts, o) }
	all := has("ALL") || has("COUNT") || partial == nil && !has("MIN") && !has("MAX")
	lo, hi := 0, 0
	if partial != nil {
		lo, hi = partialWindow(len(res), partial)
	}
	var out []uint32
	for k, f := range res {
		if all || k >= lo && k < hi || k == 0 && has("MIN") || k == len(res)-1 && has("MAX") {
			out = append(out, v.msgs[f.i].uid)
		}
	}
	return out
}
