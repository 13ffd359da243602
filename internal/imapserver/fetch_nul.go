package imapserver

import (
	"errors"
	"io"

	"postel/internal/imap"
	"postel/internal/imap/section"
	"postel/internal/message"
	"postel/internal/store"
)

// errNUL: a BODY[...] or RFC822 item would hold a NUL octet. RFC 9051
// §4.3 lets no literal but a literal8 carry NUL, and its grammar
// (msg-att-static) allows a literal8 only in a BINARY[...] response (RFC
// 3516 §4.3); BODY[...] is an nstring. Sending the octets raw would break
// the client's parser, and changing them (as some servers replace NUL by
// 0x80) would hand out something else than the stored message, so the
// item is refused: the FETCH ends with NO [CANNOT] (RFC 5530: it can
// never succeed) and the client can fetch BINARY[...] instead.
//
// Looking costs a read of the octets before the one that sends them, so
// it is done only where the store does not know the message to be free of
// NUL (store.Message.NUL, recorded at delivery; the messages stored before
// it was are unknown): for the rest, the literal is read once.
var errNUL = errors.New("section holds NUL octets")

// findNUL returns errNUL when the octets of the n-octet section r that
// the partial p (nil for all) selects hold a NUL. r is read from its
// current offset and left there.
func findNUL(r io.Reader, n int64, p *imap.Partial) error {
	rs, ok := r.(io.ReadSeeker)
	if !ok {
		return nil // every section reader is seekable; nothing to check otherwise
	}
	start, count := int64(0), n
	if p != nil {
		start = min(max(p.Offset, 0), n)
		count = min(max(p.Count, 0), n-start)
	}
	if _, err := rs.Seek(start, io.SeekCurrent); err != nil {
		return err
	}
	var c nulCounter
	_, err := io.Copy(&c, io.LimitReader(rs, count))
	if _, serr := rs.Seek(-(start + c.n), io.SeekCurrent); err == nil {
		err = serr
	}
	if err == nil && c.nul {
		err = errNUL
	}
	return err
}

// seenByFetch reports whether a FETCH of its text would set \Seen on the
// message (markSeen).
func (m *msg) seenByFetch() bool { return !m.has(bitSeen) && !m.expunged }

// refusedBeforeSeen finds, before markSeen, the messages whose \Seen the
// FETCH would set but whose response will be refused: RFC 9051 §6.4.5
// (RFC 3501 §6.4.5) sets \Seen when the text is returned, and a refused
// message returns none. Two refusals are known before sending: a BINARY
// item naming a part of an unknown Content-Transfer-Encoding (RFC 3516
// §4.3 UNKNOWN-CTE; from the structure alone), and a NUL in a plain
// literal item of a message the store does not know to be free of NUL
// (read here). It notes in p which messages it refused (fetchOne answers
// errNUL for those without reading again; markSeen leaves them all) and
// which it found free of NUL (fetchOne does not look again).
func (s *session) refusedBeforeSeen(p *fetchPlan, idx []int) error {
	v := s.sel
	if !p.seen || v.readOnly || !v.rights.has(rightSeen) {
		return nil // markSeen sets nothing
	}
	var literal, binary []imap.FetchItem
	for _, it := range p.items {
		switch it.Name {
		case "RFC822", "RFC822.HEADER", "RFC822.TEXT":
			literal = append(literal, it)
		case "BODY":
			if it.Section != nil {
				literal = append(literal, it)
			}
		case "BINARY", "BINARY.SIZE":
			binary = append(binary, it)
		}
	}
	var uids []uint32
	lookNUL := map[uint32]bool{}
	for _, i := range idx {
		m := &v.msgs[i]
		if !m.seenByFetch() {
			continue
		}
		if len(literal) > 0 && !m.nulFree {
			lookNUL[m.uid] = true
		} else if len(binary) == 0 {
			continue
		}
		uids = append(uids, m.uid)
	}
	if len(uids) == 0 {
		return nil
	}
	p.nulClean, p.nulRefused, p.cteRefused = map[uint32]bool{}, map[uint32]bool{}, map[uint32]bool{}
	for start := 0; start < len(uids); start += fetchBatch {
		batch := uids[start:min(start+fetchBatch, len(uids))]
		var metas map[uint32]store.MessageMeta
		if p.meta {
			var err error
			if metas, err = s.srv.st.MessageMetas(s.ctx(), v.owner, v.id, batch); err != nil {
				return err
			}
		}
		for _, uid := range batch {
			if len(binary) > 0 && undecodable(binary, metas[uid]) {
				p.cteRefused[uid] = true
				continue
			}
			if !lookNUL[uid] {
				continue
			}
			err := s.lookForNUL(p, literal, uid, metas)
			switch {
			case errors.Is(err, errNUL):
				p.nulRefused[uid] = true
			case errors.Is(err, errVanished):
				// fetchOne finds it gone too
			case err != nil:
				return err
			default:
				p.nulClean[uid] = true
			}
		}
	}
	return nil
}

// undecodable reports whether one of the BINARY items names a part whose
// encoding BINARY cannot remove, by the stored structure (meta); a
// message without its structure (gone) is left to fetchOne.
func undecodable(items []imap.FetchItem, meta store.MessageMeta) bool {
	if meta.Structure == nil {
		return false
	}
	root, err := message.UnmarshalStructure(meta.Structure)
	if err != nil {
		return false
	}
	for _, it := range items {
		if errors.Is(section.Decodable(root, it.Section.Part), section.ErrUnknownCTE) {
			return true
		}
	}
	return false
}

// lookForNUL returns errNUL when one of the plain literal items holds NUL
// in the message uid, errVanished when the message is gone.
func (s *session) lookForNUL(p *fetchPlan, items []imap.FetchItem, uid uint32, metas map[uint32]store.MessageMeta) error {
	v := s.sel
	var root *message.Part
	if p.meta {
		meta, ok := metas[uid]
		if !ok {
			return errVanished
		}
		var err error
		if root, err = message.UnmarshalStructure(meta.Structure); err != nil {
			return err
		}
	}
	mr, err := s.srv.st.OpenMessage(s.ctx(), v.owner, v.id, uid)
	if storeNotFound(err) {
		return errVanished
	} else if err != nil {
		return err
	}
	defer mr.Close()
	_, err = bodyParts(items, mr, root, true)
	return err
}
