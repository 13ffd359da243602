package imapserver

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"

	"postel/internal/imap"
	"postel/internal/imap/section"
	"postel/internal/message"
	"postel/internal/store"
)

// fetchBatch is how many messages' metadata FETCH loads at once.
const fetchBatch = 256

// fetchPlan is what a FETCH needs, worked out once from its items.
type fetchPlan struct {
	items  []imap.FetchItem
	uid    bool // add UID (UID FETCH, RFC 9051 §6.4.9)
	modseq bool // add MODSEQ (CHANGEDSINCE, RFC 7162 §3.1.4.1)
	meta   bool // envelope or structure needed
	body   bool // the message file needed
	seen   bool // sets \Seen (BODY[] and the like without PEEK)
	// What refusedBeforeSeen found of the messages it looked at: those
	// whose literal items hold no NUL, those refused for one, and those
	// refused because a BINARY item names a part of an unknown
	// Content-Transfer-Encoding.
	nulClean, nulRefused, cteRefused map[uint32]bool
}

func planFetch(a *imap.FetchArgs, uid bool) *fetchPlan {
	p := &fetchPlan{items: a.Items, uid: uid, modseq: a.ChangedSince > 0}
	for _, it := range a.Items {
		switch it.Name {
		case "UID":
			p.uid = false // asked for: written where asked
		case "MODSEQ":
			p.modseq = false
		case "ENVELOPE", "BODYSTRUCTURE":
			p.meta = true
		case "BODY":
			if it.Section == nil {
				p.meta = true // BODY: the structure without extensions
				break
			}
			p.body = true
			p.meta = p.meta || len(it.Section.Part) > 0 || it.Section.Specifier != ""
			p.seen = p.seen || !it.Peek
		case "BINARY", "BINARY.SIZE":
			p.body, p.meta = true, true
			p.seen = p.seen || (it.Name == "BINARY" && !it.Peek)
		case "RFC822", "RFC822.TEXT":
			p.body, p.seen = true, true
			p.meta = p.meta || it.Name == "RFC822.TEXT"
		case "RFC822.HEADER":
			p.body, p.meta = true, true
		case "THREADID": // RFC 8474 §5.2, from the stored header fields
			p.meta = true
		case "PREVIEW": // RFC 8970, from the message's first text part
			p.body, p.meta = true, true
		}
	}
	return p
}

// asks reports whether the FETCH asks for the item name.
func (p *fetchPlan) asks(name string) bool {
	for _, it := range p.items {
		if it.Name == name {
			return true
		}
	}
	return false
}

// FETCH and UID FETCH (RFC 9051 §6.4.5), with CHANGEDSINCE and VANISHED
// (RFC 7162 §3.1.4, §3.2.6) and BINARY (RFC 3516). Responses are written
// as they are produced, bodies streamed from the message files.
func (s *session) cmdFetch(cmd *imap.Command) error {
	a := cmd.Args.(*imap.FetchArgs)
	v := s.sel
	if a.Vanished && !s.qresync {
		return bad("VANISHED needs ENABLE QRESYNC") // RFC 7162 §3.2.6
	}
	p := planFetch(a, cmd.UID)
	if err := s.mergeFlagUpdates(a, p, cmd.UID); err != nil {
		return err
	}
	defer func() { v.merged = nil }()
	// Fresh flags first; expunges only where allowed (RFC 9051 §7.5.1).
	if err := s.update(cmd.UID); err != nil {
		return err
	}
	idx, err := v.resolve(a.Set, cmd.UID)
	if err != nil {
		return err
	}
	if a.ChangedSince > 0 || p.asks("MODSEQ") {
		s.enableCondStore() // RFC 7162 §3.1
	}
	if a.Vanished {
		if err := s.vanishedEarlier(a); err != nil {
			return err
		}
	}
	// Messages expunged by another session but not announced yet keep
	// their numbers: what the view holds of them (flags, dates, size) is
	// served; their files and metadata are gone, so a FETCH needing those
	// skips them and ends with NO (RFC 2180 §4.1.2).
	if a.Partial != nil {
		idx = partialFetch(v, idx, a) // RFC 9394 §3.3 (esort.go)
	}
	issued := false
	keep := idx[:0]
	for _, i := range idx {
		switch m := &v.msgs[i]; {
		case m.modseq <= a.ChangedSince:
		case m.expunged && (p.meta || p.body):
			issued = true
		default:
			keep = append(keep, i)
		}
	}
	idx = keep
	if err := s.refusedBeforeSeen(p, idx); err != nil {
		return err
	}
	seenNow, err := s.markSeen(p, idx)
	if err != nil {
		return err
	}
	var cteErr, nulErr error
	for start := 0; start < len(idx); start += fetchBatch {
		batch := idx[start:min(start+fetchBatch, len(idx))]
		var metas map[uint32]store.MessageMeta
		if p.meta {
			uids := make([]uint32, len(batch))
			for k, i := range batch {
				uids[k] = v.msgs[i].uid
			}
			if metas, err = s.srv.st.MessageMetas(s.ctx(), v.owner, v.id, uids); err != nil {
				return err
			}
		}
		for _, i := range batch {
			err := s.fetchOne(p, i, metas, seenNow[v.msgs[i].uid])
			switch {
			case errors.Is(err, errVanished):
				issued = true
			case errors.Is(err, section.ErrUnknownCTE):
				cteErr = err
			case errors.Is(err, errNUL):
				nulErr = err
			case err != nil:
				return err
			}
		}
	}
	switch {
	case cteErr != nil:
		return no(codeUnknownCTE, "Cannot decode the content transfer encoding") // RFC 3516 §4.3
	case nulErr != nil:
		return no(codeCannot, "BODY[] and RFC822 cannot carry NUL octets, fetch BINARY[] (RFC 3516)")
	case issued && !cmd.UID:
		return no(codeExpungeIssued, "Some messages were expunged meanwhile") // RFC 5530
	}
	return nil
}

// mergeFlagUpdates notes in v.merged the messages whose pending flag
// update (another session's change) the FETCH's own response carries:
// update does not send those separately, so that a FETCH FLAGS answers
// one line per message (RFC 9051 §7.4: the server may combine the
// untagged FETCH responses of a message; §7.5.1). The FETCH's response
// must hold all the update would: FLAGS, MODSEQ once CONDSTORE is on (RFC
// 7162 §3.2), UID where the update would give it.
func (s *session) mergeFlagUpdates(a *imap.FetchArgs, p *fetchPlan, uid bool) error {
	v := s.sel
	if !p.asks("FLAGS") || a.Partial != nil {
		return nil
	}
	modseq := p.modseq || p.asks("MODSEQ")
	withUID := uid || p.asks("UID")
	if (s.condstore && !modseq) || ((s.condstore || s.notifyFlagChangeUID()) && !withUID) {
		return nil
	}
	if err := s.pull(); err != nil {
		return err
	}
	if v.announce == 0 {
		return nil
	}
	idx, err := v.resolve(a.Set, uid)
	if err != nil {
		return nil // the FETCH answers the error after update
	}
	for _, i := range idx {
		if m := &v.msgs[i]; m.announce && !m.expunged && m.modseq > a.ChangedSince {
			if v.merged == nil {
				v.merged = map[uint32]bool{}
			}
			v.merged[m.uid] = true
		}
	}
	return nil
}

// vanishedEarlier writes the UIDs of the set expunged since CHANGEDSINCE
// (RFC 7162 §3.2.6).
func (s *session) vanishedEarlier(a *imap.FetchArgs) error {
	v := s.sel
	gone, err := s.srv.st.ExpungedSince(s.ctx(), v.owner, v.id, a.ChangedSince)
	if err != nil {
		return err
	}
	var saved []uint32
	if a.Set.Saved {
		saved = v.savedUIDs()
	}
	var uids []uint32
	for _, e := range gone {
		in := a.Set.Contains(e.UID, v.maxUID())
		if a.Set.Saved {
			in = slices.Contains(saved, e.UID)
		}
		if in {
			uids = append(uids, e.UID)
		}
	}
	if len(uids) > 0 {
		s.w.Atom("* VANISHED (EARLIER) ")
		s.w.SeqSet(imap.SeqSetFromNums(uids))
		s.w.CRLF()
	}
	return nil
}

// markSeen sets \Seen on the messages a FETCH of bodies reads (RFC 9051
// §6.4.5), unless the mailbox is read-only, and returns the UIDs whose
// flags changed: their responses include FLAGS. The messages refused for
// NUL or an unknown encoding (refusedBeforeSeen) are not read, and keep
// their flags.
func (s *session) markSeen(p *fetchPlan, idx []int) (map[uint32]bool, error) {
	v := s.sel
	if !p.seen || v.readOnly || !v.rights.has(rightSeen) { // RFC 4314 §4: s to set \Seen
		return nil, nil
	}
	var uids []uint32
	for _, i := range idx {
		if m := &v.msgs[i]; m.seenByFetch() && !p.nulRefused[m.uid] && !p.cteRefused[m.uid] {
			uids = append(uids, v.msgs[i].uid)
		}
	}
	if len(uids) == 0 {
		return nil, nil
	}
	changes, err := s.srv.st.StoreFlags(s.ctx(), v.owner, v.id, uids, store.FlagsAdd, []string{store.FlagSeen}, 0)
	if err != nil && !storeNotFound(err) {
		return nil, err
	}
	seen := make(map[uint32]bool, len(changes))
	for _, c := range changes {
		if i := v.find(c.UID); i >= 0 {
			v.setFlags(i, c.Flags, c.ModSeq, false)
			seen[c.UID] = true
		}
	}
	return seen, nil
}

// errVanished: the message went from the store while being fetched.
var errVanished = errors.New("message expunged meanwhile")

// bodyPart is one body item of a FETCH response, ready to write.
type bodyPart struct {
	label string    // e.g. BODY[1.MIME]<0>
	r     io.Reader // nil for a part that does not exist: written as ""
	n     int64
	lit8  bool
	size  bool // BINARY.SIZE: write n as a number
}

// fetchOne writes the FETCH response of v.msgs[i]. Everything that can
// fail is done before the first octet is written, so that a failure
// leaves no half response.
func (s *session) fetchOne(p *fetchPlan, i int, metas map[uint32]store.MessageMeta, seenNow bool) error {
	v := s.sel
	m := &v.msgs[i]
	var meta store.MessageMeta
	var root *message.Part
	if p.meta {
		var ok bool
		if meta, ok = metas[m.uid]; !ok {
			return errVanished
		}
		if p.body || p.asks("BODYSTRUCTURE") || p.asks("BODY") {
			var err error
			if root, err = message.UnmarshalStructure(meta.Structure); err != nil {
				return err
			}
		}
	}
	if p.nulRefused[m.uid] {
		return errNUL
	}
	var bodies []bodyPart
	var preview string
	if p.body {
		mr, err := s.srv.st.OpenMessage(s.ctx(), v.owner, v.id, m.uid)
		if storeNotFound(err) {
			return errVanished
		} else if err != nil {
			return err
		}
		defer mr.Close()
		// Looked at already, or known to hold no NUL: the literals
		// are read once, as they are sent.
		check := !m.nulFree && !p.nulClean[m.uid]
		if bodies, err = bodyParts(p.items, mr, root, check); err != nil {
			return err
		}
		if p.asks("PREVIEW") {
			if preview, err = message.Preview(mr, root); err != nil {
				return err
			}
		}
	}

	w := s.w
	uidItem := s.fetchHead(i)
	first := true
	sep := func() {
		if !first {
			w.SP()
		}
		first = false
	}
	if p.uid && uidItem {
		sep()
		w.Atom("UID ")
		w.Number(uint64(m.uid))
	}
	nb := 0
	for _, it := range p.items {
		sep()
		switch it.Name {
		case "UID":
			w.Atom("UID ")
			w.Number(uint64(m.uid))
		case "FLAGS":
			w.Atom("FLAGS ")
			w.Flags(m.flags())
		case "INTERNALDATE":
			w.Atom("INTERNALDATE ")
			w.DateTime(m.internalDate())
		case "RFC822.SIZE":
			w.Atom("RFC822.SIZE ")
			w.Number(uint64(m.size))
		case "MODSEQ":
			w.Atom("MODSEQ (")
			w.Number(m.modseq)
			w.Close()
		case "SAVEDATE": // RFC 8514
			w.Atom("SAVEDATE ")
			if d := m.saveDate(); d.IsZero() {
				w.Nil()
			} else {
				w.DateTime(d)
			}
		case "ENVELOPE":
			env, err := message.UnmarshalEnvelope(meta.Envelope)
			if err != nil {
				return abort(err)
			}
			w.Atom("ENVELOPE ")
			w.Envelope(env)
		case "BODYSTRUCTURE":
			w.Atom("BODYSTRUCTURE ")
			w.BodyStructure(root, true)
		case "EMAILID", "THREADID":
			s.writeObjectIDItem(it.Name, m, &meta)
		case "PREVIEW":
			w.Atom("PREVIEW ")
			w.String(preview)
		case "BODY", "BINARY", "BINARY.SIZE", "RFC822", "RFC822.HEADER", "RFC822.TEXT":
			if it.Name == "BODY" && it.Section == nil {
				w.Atom("BODY ")
				w.BodyStructure(root, false)
				break
			}
			b := bodies[nb]
			nb++
			w.Atom(b.label)
			w.SP()
			var err error
			switch {
			case b.size:
				w.Number(uint64(b.n))
			case b.r == nil:
				w.Quoted("")
			case b.lit8:
				err = w.Literal8(b.n, b.r)
			default:
				err = w.Literal(b.n, b.r)
			}
			if err != nil {
				return abort(err)
			}
		}
	}
	if seenNow && !p.asks("FLAGS") {
		sep()
		w.Atom("FLAGS ")
		w.Flags(m.flags())
	}
	if p.modseq || (seenNow && s.condstore && !p.asks("MODSEQ")) {
		sep()
		w.Atom("MODSEQ (")
		w.Number(m.modseq)
		w.Close()
	}
	w.Atom(")")
	w.CRLF()
	return nil
}

// bodyParts prepares the body items of a FETCH for one message: readers
// of exact sizes over the message file. A part that does not exist reads
// as an empty string (RFC 9051 does not say; Dovecot does the same).
// checkNUL says whether to look for NUL in the plain literals (errNUL).
func bodyParts(items []imap.FetchItem, mr store.MessageReader, root *message.Part, checkNUL bool) ([]bodyPart, error) {
	var out []bodyPart
	for _, it := range items {
		var b bodyPart
		var err error
		switch it.Name {
		case "BODY":
			if it.Section == nil {
				continue
			}
			b.label = "BODY[" + sectionString(it.Section) + "]"
			b.r, b.n, err = sectionBody(mr, root, it.Section)
		case "RFC822":
			b.label = "RFC822"
			b.r, b.n = io.NewSectionReader(mr, 0, mr.Size()), mr.Size()
		case "RFC822.HEADER":
			b.label = "RFC822.HEADER"
			b.r, b.n, err = sectionBody(mr, root, &imap.Section{Specifier: "HEADER"})
		case "RFC822.TEXT":
			b.label = "RFC822.TEXT"
			b.r, b.n, err = sectionBody(mr, root, &imap.Section{Specifier: "TEXT"})
		case "BINARY":
			b.label = "BINARY[" + partString(it.Section.Part) + "]"
			b.r, b.n, b.lit8, err = binaryBody(mr, root, it.Section.Part)
		case "BINARY.SIZE":
			b.label = "BINARY.SIZE[" + partString(it.Section.Part) + "]"
			b.size = true
			b.n, err = section.BinarySize(mr, root, it.Section.Part)
			if errors.Is(err, section.ErrNoPart) {
				b.n, err = 0, nil
			}
		default:
			continue
		}
		if err == nil && checkNUL && b.r != nil && !strings.HasPrefix(it.Name, "BINARY") {
			err = findNUL(b.r, b.n, it.Partial) // a plain literal: no NUL
		}
		if err != nil {
			return nil, err
		}
		if it.Partial != nil && b.r != nil {
			b.label += "<" + strconv.FormatInt(it.Partial.Offset, 10) + ">"
			b.r, b.n = section.Partial(b.r, b.n, it.Partial)
		}
		out = append(out, b)
	}
	return out, nil
}

// sectionBody is section.Body, with a missing part as an empty string.
func sectionBody(mr store.MessageReader, root *message.Part, sec *imap.Section) (io.Reader, int64, error) {
	if root == nil && (len(sec.Part) > 0 || sec.Specifier != "") {
		return nil, 0, errors.New("section without the body structure")
	}
	if root == nil {
		return io.NewSectionReader(mr, 0, mr.Size()), mr.Size(), nil
	}
	r, n, err := section.Body(mr, mr.Size(), root, sec)
	if errors.Is(err, section.ErrNoPart) {
		return nil, 0, nil
	}
	return r, n, err
}

// binaryBody returns BINARY[part] (RFC 3516 §4.2) and whether it must be
// a literal8: it decodes once to count the octets and look for NUL, then
// hands out a second decoding to stream.
func binaryBody(mr store.MessageReader, root *message.Part, part []int) (io.Reader, int64, bool, error) {
	r, err := section.Binary(mr, root, part)
	if errors.Is(err, section.ErrNoPart) {
		return nil, 0, false, nil
	} else if err != nil {
		return nil, 0, false, err
	}
	var c nulCounter
	if _, err := io.Copy(&c, r); err != nil {
		return nil, 0, false, err
	}
	r, err = section.Binary(mr, root, part)
	return r, c.n, c.nul, err
}

// nulCounter counts octets and notes a NUL among them.
type nulCounter struct {
	n   int64
	nul bool
}

func (c *nulCounter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	c.nul = c.nul || bytes.IndexByte(p, 0) >= 0
	return len(p), nil
}

// sectionString formats a section spec as the response repeats it (RFC
// 9051 §7.5.2), e.g. 1.2.HEADER.FIELDS (From To).
func sectionString(sec *imap.Section) string {
	var b strings.Builder
	b.WriteString(partString(sec.Part))
	if sec.Specifier != "" {
		if len(sec.Part) > 0 {
			b.WriteByte('.')
		}
		b.WriteString(sec.Specifier)
	}
	if len(sec.Fields) > 0 {
		b.WriteString(" (")
		for i, f := range sec.Fields {
			if i > 0 {
				b.WriteByte(' ')
			}
			writeAString(&b, f)
		}
		b.WriteByte(')')
	}
	return b.String()
}

// writeAString writes a header field name as the client may have sent it
// (RFC 9051 §9 header-fld-name = astring): an atom when it is one (and
// has no "]", which would end the section), else a quoted string, else a
// literal.
func writeAString(b *strings.Builder, s string) {
	atom, quotable := s != "", true
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == 0 || c == '\r' || c == '\n' || c >= 0x80:
			atom, quotable = false, false
		case c <= ' ' || c == 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0:
			atom = false
		}
	}
	switch {
	case atom:
		b.WriteString(s)
	case quotable:
		b.WriteByte('"')
		for i := 0; i < len(s); i++ {
			if s[i] == '"' || s[i] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(s[i])
		}
		b.WriteByte('"')
	default:
		b.WriteString("{" + strconv.Itoa(len(s)) + "}\r\n" + s)
	}
}

// partString formats a part path: 1.2.3.
func partString(part []int) string {
	var b strings.Builder
	for i, n := range part {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}
