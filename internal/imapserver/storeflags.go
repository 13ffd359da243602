package imapserver

import (
	"errors"
	"slices"
	"strings"

	"postel/internal/imap"
	"postel/internal/store"
)

// storeOps maps the STORE operations to the store's.
var storeOps = [...]store.FlagOp{imap.StoreReplace: store.FlagsReplace, imap.StoreAdd: store.FlagsAdd, imap.StoreRemove: store.FlagsRemove}

// flagsError answers flags the store refuses (store.SplitFlags): past a
// limit of the store's, NO [LIMIT] (RFC 5530 §3: the command is valid, an
// implementation limit stops it); anything else BAD.
func flagsError(err error) error {
	switch {
	case errors.Is(err, store.ErrTooManyKeywords):
		return no(codeLimit, "Too many keywords on a message (at most "+itoa(store.MaxKeywords)+")")
	case errors.Is(err, store.ErrKeywordTooLong):
		return no(codeLimit, "Keyword too long (at most "+itoa(store.MaxKeywordLen)+" octets)")
	}
	return bad("Invalid flag")
}

// STORE and UID STORE (RFC 9051 §6.4.6) with UNCHANGEDSINCE (RFC 7162
// §3.1.3). Adding $Junk or $NotJunk trains the junk filter
// (junktrain.go).
func (s *session) cmdStore(cmd *imap.Command) error {
	a := cmd.Args.(*imap.StoreArgs)
	v := s.sel
	if v.readOnly {
		return noReadOnly
	}
	idx, err := v.resolve(a.Set, cmd.UID)
	if err != nil {
		return err
	}
	if a.HasUnchangedSince {
		s.enableCondStore()
	}
	// RFC 9051 §2.3.2: \Recent is the server's; asking to set or clear it
	// changes nothing.
	flags := slices.DeleteFunc(slices.Clone(a.Flags), func(f string) bool { return strings.EqualFold(f, `\Recent`) })
	if _, _, err := store.SplitFlags(flags); err != nil {
		return flagsError(err)
	}
	if flags, err = s.permittedFlags(a.Op, flags); err != nil {
		return err
	}
	uids := make([]uint32, 0, len(idx))
	issued := false
	for _, i := range idx {
		if v.msgs[i].expunged {
			issued = true
			continue
		}
		uids = append(uids, v.msgs[i].uid)
	}
	var changes []store.FlagChange
	if len(uids) > 0 {
		unchanged := a.UnchangedSince
		if a.HasUnchangedSince && unchanged == 0 {
			// UNCHANGEDSINCE 0 fails for every message (RFC 7162
			// §3.1.3); the store reads 0 as "no condition".
			for _, u := range uids {
				changes = append(changes, store.FlagChange{UID: u, Conflict: true})
			}
		} else {
			defer s.startProgress(cmd)() // RFC 9585
			err = s.waitProgress(func() (err error) {
				changes, err = s.storeFlags(uids, a.Op, flags, unchanged) // within the rights (shared.go)
				return err
			})
			if errors.Is(err, store.ErrInvalid) {
				return flagsError(err)
			} else if err != nil && !storeNotFound(err) {
				return err
			}
			if a.Op != imap.StoreRemove {
				s.trainStore(flags, changes)
			}
		}
	}
	changed := make(map[uint32]bool, len(changes))
	conflict := make(map[uint32]bool)
	for _, c := range changes {
		i := v.find(c.UID)
		switch {
		case i < 0:
		case c.Conflict:
			conflict[c.UID] = true
		default:
			changed[c.UID] = true
			v.setFlags(i, c.Flags, c.ModSeq, false)
		}
	}
	var kws []string
	for _, c := range changes {
		if changed[c.UID] {
			_, kw := splitFlags(c.Flags)
			kws = append(kws, kw...)
		}
	}
	s.announceKeywords(kws)
	// The new flags, as FETCH responses (RFC 9051 §6.4.6): for every
	// message of the set, unless .SILENT; with CONDSTORE in use, for the
	// messages changed even when .SILENT, for their new MODSEQ (RFC 7162
	// §3.1.3). Messages that failed UNCHANGEDSINCE are MODIFIED instead.
	var modified []uint32
	for _, i := range idx {
		m := &v.msgs[i]
		switch {
		case m.expunged:
		case conflict[m.uid] && cmd.UID:
			modified = append(modified, m.uid)
		case conflict[m.uid]:
			modified = append(modified, uint32(i+1))
		case !a.Silent || s.condstore && changed[m.uid]:
			s.writeStoreFetch(i, cmd.UID, !a.Silent)
		}
	}
	switch {
	case len(modified) > 0:
		return okCode("MODIFIED "+imap.SeqSetFromNums(modified).String(), "Conditional STORE failed")
	case issued && !cmd.UID:
		return no(codeExpungeIssued, "Some messages were expunged meanwhile")
	}
	return nil
}

// writeStoreFetch writes the FETCH response of a stored message: FLAGS
// (unless silent), UID for UID STORE or with CONDSTORE, MODSEQ with
// CONDSTORE.
func (s *session) writeStoreFetch(i int, uid, withFlags bool) {
	m := &s.sel.msgs[i]
	w := s.w
	sep := ""
	if s.fetchHead(i) && (uid || s.condstore) {
		w.Atom("UID ")
		w.Number(uint64(m.uid))
		sep = " "
	}
	if withFlags {
		w.Atom(sep + "FLAGS ")
		w.Flags(m.flags())
		sep = " "
	}
	if s.condstore {
		w.Atom(sep + "MODSEQ (")
		w.Number(m.modseq)
		w.Close()
	}
	w.Atom(")")
	w.CRLF()
}
