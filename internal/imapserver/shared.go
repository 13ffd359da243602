package imapserver

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"postel/internal/deliver"
	"postel/internal/imap"
	"postel/internal/store"
)

// The shared namespace (RFC 2342 §5, "Other Users"): the mailboxes other
// accounts shared with the session's (store.ACL) appear as
// "Other Users/<owner address>/<owner's name>", "/" separating levels as
// in the personal namespace. Every command naming a mailbox goes through
// resolve, which says whose mailbox a name is and what the session may do
// with it; the commands of the selected state go through checkSelected.
// Nothing else of the owner is reachable: the owner's other mailboxes,
// quota and subscriptions stay out of sight. A disabled owner shares
// nothing (sharingOwner).

// sharedRoot is the prefix of the shared namespace, without its "/".
const sharedRoot = "Other Users"

// mailboxRef is a mailbox name of a command resolved for the session.
type mailboxRef struct {
	name      string // as the client names it, canonical
	owner     int64  // the account the mailbox is in
	ownerAddr string // the owner's address; "" for the session's own account
	local     string // the owner's name of it
	id        int64  // the mailbox; 0 when it does not exist
	rights    rights // the session's rights on it
	virtual   bool   // "Other Users" or "Other Users/<owner>": a level, never a mailbox
}

func (r *mailboxRef) shared() bool { return r.ownerAddr != "" }

// sharedName is the name in the shared namespace of an owner's mailbox.
func sharedName(owner, local string) string { return sharedRoot + "/" + owner + "/" + local }

// sharedLocal is the owner's name of a mailbox named in the shared
// namespace: what follows the owner's address, which ends at the first
// "/" after its "@" (parseName).
func sharedLocal(name string) string {
	rest := strings.TrimPrefix(name, sharedRoot+"/")
	at := strings.IndexByte(rest, '@')
	if at < 0 {
		return ""
	}
	_, local, _ := strings.Cut(rest[at:], "/")
	return local
}

// parseName checks a mailbox name of a command and says whose it is,
// without reading the mailbox.
func (s *session) parseName(name string) (mailboxRef, error) {
	c, err := canonical(name)
	if err != nil {
		return mailboxRef{}, err
	}
	ref := mailboxRef{name: c, owner: s.user.AccountID, local: c, rights: allRights}
	if c != sharedRoot && !strings.HasPrefix(c, sharedRoot+"/") {
		return ref, nil
	}
	ref.virtual = true
	// The owner's address ends at the first "/" after its "@" (a local
	// part may hold a "/", a domain never does).
	rest := strings.TrimPrefix(c, sharedRoot+"/")
	at := strings.IndexByte(rest, '@')
	if c == sharedRoot || at < 0 {
		return ref, nil
	}
	addr, local, ok := strings.Cut(rest[at:], "/")
	addr = rest[:at] + addr
	if !ok {
		return ref, nil
	}
	if local, err = store.CanonicalMailbox(local); err != nil {
		return ref, no(codeCannot, "Invalid mailbox name")
	}
	acct, err := s.sharingOwner(addr, 0)
	if storeNotFound(err) || (err == nil && acct.ID == s.user.AccountID) {
		// One name per mailbox: the session's own are not shared with it.
		// An owner that does not share is one that does not exist.
		return ref, nil
	} else if err != nil {
		return ref, err
	}
	ref.virtual = false
	ref.owner, ref.ownerAddr, ref.local = acct.ID, acct.Address, local
	ref.name = sharedName(acct.Address, local)
	ref.rights = 0
	return ref, nil
}

// errOwnerDisabled: the owner of a shared mailbox is disabled.
var errOwnerDisabled = fmt.Errorf("%w: the owner's account is disabled", store.ErrNotFound)

// sharingOwner reads the account of an owner of shared mailboxes, by
// address or else by id: the one place that says whether an owner shares
// at all, for parseName (every command naming a mailbox), sharedRevoked
// (the selected one) and sharedMailboxes (LIST). A disabled account
// (store.Account.Disabled) shares nothing while it stays disabled: its
// grantees find its mailboxes as mailboxes that do not exist, from their
// next command on; its access control lists stay, and count again once
// it is enabled. The error is then errOwnerDisabled, which is
// store.ErrNotFound too.
func (s *session) sharingOwner(addr string, id int64) (store.Account, error) {
	var acct store.Account
	var err error
	if addr != "" {
		acct, err = s.srv.st.Account(s.ctx(), addr)
	} else {
		acct, err = s.srv.st.AccountByID(s.ctx(), id)
	}
	if err == nil && acct.Disabled {
		return acct, errOwnerDisabled
	}
	return acct, err
}

// resolve is the one place a command naming a mailbox learns whose it
// is, what it is and whether the session may do what needs the rights
// need (0: any right at all): the session's own mailboxes with every
// right, the shared ones with the rights their access control list gives
// (RFC 4314 §2). A shared mailbox is given with its name in the shared
// namespace, no special use and as subscribed. When the right is missing,
// the answer is NO [NOPERM], unless the session may neither look the
// mailbox up (l) nor read it (r): then it is answered as a mailbox that
// does not exist (noNoMailbox), so that its existence is not revealed
// (RFC 4314 §4).
func (s *session) resolve(name string, need rights) (mailboxRef, store.Mailbox, error) {
	ref, err := s.parseName(name)
	if err != nil {
		return ref, store.Mailbox{}, err
	}
	if ref.virtual {
		return ref, store.Mailbox{}, noNoMailbox
	}
	mb, err := s.srv.st.Mailbox(s.ctx(), ref.owner, ref.local)
	if err != nil {
		return ref, mb, mailboxErr(err)
	}
	ref.id = mb.ID
	if ref.shared() {
		entries, err := s.srv.st.MailboxACL(s.ctx(), ref.owner, mb.ID)
		if err != nil {
			return ref, mb, mailboxErr(err)
		}
		ref.rights = effectiveRights(entries, s.user.Address)
		// The session's subscriptions are names (LIST reads them), not
		// the owner's flag.
		mb.Name, mb.SpecialUse, mb.Subscribed = ref.name, store.RoleNone, false
	}
	if (need == 0 && ref.rights != 0) || (need != 0 && ref.rights.has(need)) {
		return ref, mb, nil
	}
	if ref.rights&(rightLookup|rightRead) == 0 {
		return ref, mb, noNoMailbox
	}
	return ref, mb, no(codeNoPerm, "Permission denied: the "+(need&^ref.rights).String()+" right is needed")
}

// sharedMailboxes lists the mailboxes shared with the session that it may
// look up (l), for LIST, as resolve names them.
func (s *session) sharedMailboxes() ([]store.Mailbox, []rights, error) {
	shared, err := s.srv.st.SharedWith(s.ctx(), s.user.AccountID)
	if err != nil {
		return nil, nil, err
	}
	var mbs []store.Mailbox
	var rs []rights
	owner, sharing := int64(0), false // SharedWith gives an owner's mailboxes together
	for _, sm := range shared {
		r := effectiveRights(sm.Entries, s.user.Address)
		if !r.has(rightLookup) {
			continue
		}
		if sm.OwnerID != owner {
			_, err := s.sharingOwner("", sm.OwnerID)
			if err != nil && !storeNotFound(err) {
				return nil, nil, err
			}
			owner, sharing = sm.OwnerID, err == nil
		}
		if !sharing {
			continue
		}
		// What LIST and NOTIFY need of it is in the list already (no
		// counts: STATUS reads them through resolve; the subscriptions
		// are names, which they read).
		mb := store.Mailbox{ID: sm.MailboxID, AccountID: sm.OwnerID, Name: sharedName(sm.Owner, sm.Name),
			SpecialUse: store.RoleNone}
		mbs, rs = append(mbs, mb), append(rs, r)
	}
	return mbs, rs, nil
}

// selectedNeeds are the rights the commands of the selected state need
// beyond r (which keeps the mailbox selected) (RFC 4314 §4; RFC 6851 §3.3
// for MOVE, which deletes and expunges the source). STORE needs s, w or
// t by the flags it changes (permittedFlags), FETCH s to set \Seen, CLOSE
// e to expunge.
var selectedNeeds = map[string]rights{
	"EXPUNGE": rightExpunge,
	"MOVE":    rightDeleted | rightExpunge,
}

// checkSelected is the one place the rights on the selected mailbox are
// checked, before every command while one is selected. The session's own
// mailbox has every right. A shared one's rights are read again when
// they may have changed, so that a right revoked counts from the next
// command (RFC 4314 §4): without r the mailbox is closed (OK [CLOSED], RFC 7162 §3.2.11),
// and a command of the selected state is refused.
func (s *session) checkSelected(cmd *imap.Command) error {
	v := s.sel
	if v == nil || v.owner == s.user.AccountID {
		return nil
	}
	// The rights are read again only when the owner's feed told of a
	// change since they were read: a change is announced before the
	// command that made it is answered, so a revoke answered to the owner
	// counts from this session's next command (on another node, once the
	// change has reached this one).
	if v.poll(); v.rightsStale && s.sharedRevoked() {
		if commands[cmd.Name].states == inSelected {
			return no(codeNoPerm, "Access to the selected mailbox was revoked")
		}
		return nil
	}
	if need := selectedNeeds[cmd.Name]; !v.rights.has(need) {
		return no(codeNoPerm, "Permission denied: the "+(need&^v.rights).String()+" right is needed")
	}
	return nil
}

// sharedRevoked reads the session's rights on the selected shared
// mailbox again and, when the r right is gone (or its owner was
// disabled, sharingOwner), closes the mailbox and says so with OK
// [CLOSED]; it reports whether it did. IDLE calls it when
// the owner's account announces a change.
func (s *session) sharedRevoked() bool {
	v := s.sel
	if v == nil || v.owner == s.user.AccountID {
		return false
	}
	_, err := s.sharingOwner("", v.owner)
	var entries []store.ACLEntry
	if err == nil {
		entries, err = s.srv.st.MailboxACL(s.ctx(), v.owner, v.id)
	}
	switch {
	case errors.Is(err, errOwnerDisabled):
		// As if every right were revoked: the mailbox is closed.
	case storeNotFound(err):
		v.gone = true
		return false
	case err != nil:
		s.log.Warn("reading the rights of the selected shared mailbox", "err", err)
		return false // the command's own store calls will tell; read again at the next
	}
	v.rightsStale = false
	v.rights = effectiveRights(entries, s.user.Address)
	if v.rights.has(rightRead) {
		return false
	}
	s.deselect()
	s.w.StatusResponse("", "OK", codeClosed, "Access to the selected mailbox was revoked")
	return true
}

// permittedFlags keeps of the flags of a STORE those the rights of the
// selected mailbox let the session change: \Seen with s, \Deleted with
// t, the others with w (RFC 4314 §4). STORE does not fail when some
// flag may be changed (RFC 4314 §4: clients handle a NO to STORE
// badly); it is refused when none may.
func (s *session) permittedFlags(op imap.StoreOp, flags []string) ([]string, error) {
	r := s.sel.rights
	if r.has(rightSeen | rightWrite | rightDeleted) {
		return flags, nil
	}
	kept := filterFlags(flags, r)
	if r&(rightSeen|rightWrite|rightDeleted) == 0 || (op != imap.StoreReplace && len(kept) == 0 && len(flags) > 0) {
		return nil, no(codeNoPerm, "Permission denied: no right to change these flags")
	}
	return kept, nil
}

// storeFlags is STORE's write. A FLAGS replacement with only some of the
// s, w and t rights changes only the flags those rights cover (RFC 4314
// §4), the others staying as they are: the covered flags not given are
// removed (the keywords among them as the view knows the messages'),
// then those given are added. UNCHANGEDSINCE applies to the first write;
// a message that fails it is left out of the second.
func (s *session) storeFlags(uids []uint32, op imap.StoreOp, flags []string, unchanged uint64) ([]store.FlagChange, error) {
	v := s.sel
	if op != imap.StoreReplace || v.rights.has(rightSeen|rightWrite|rightDeleted) {
		return s.srv.st.StoreFlags(s.ctx(), v.owner, v.id, uids, storeOps[op], flags, unchanged)
	}
	given := func(f string) bool {
		return slices.ContainsFunc(flags, func(g string) bool { return strings.EqualFold(f, g) })
	}
	var drop []string
	for _, f := range sysFlags {
		if len(filterFlags([]string{f}, v.rights)) == 1 && !given(f) {
			drop = append(drop, f)
		}
	}
	if v.rights.has(rightWrite) {
		for _, u := range uids {
			if i := v.find(u); i >= 0 {
				for _, k := range v.msgs[i].keywords {
					if !given(k) && !slices.Contains(drop, k) {
						drop = append(drop, k)
					}
				}
			}
		}
	}
	byUID := map[uint32]store.FlagChange{}
	rest := uids
	if len(drop) > 0 {
		first, err := s.srv.st.StoreFlags(s.ctx(), v.owner, v.id, uids, store.FlagsRemove, drop, unchanged)
		if err != nil {
			return nil, err
		}
		for _, c := range first {
			byUID[c.UID] = c
		}
		rest = slices.DeleteFunc(slices.Clone(uids), func(u uint32) bool { return byUID[u].Conflict })
		unchanged = 0
	}
	if len(flags) > 0 || unchanged > 0 {
		second, err := s.srv.st.StoreFlags(s.ctx(), v.owner, v.id, rest, store.FlagsAdd, flags, unchanged)
		if err != nil {
			return nil, err
		}
		for _, c := range second {
			byUID[c.UID] = c
		}
	}
	out := make([]store.FlagChange, 0, len(byUID))
	for _, u := range uids {
		if c, ok := byUID[u]; ok {
			out = append(out, c)
		}
	}
	return out, nil
}

// filterFlags keeps the flags the rights r may set (APPEND and COPY into
// a shared mailbox drop the others, RFC 4314 §4).
func filterFlags(flags []string, r rights) []string {
	var kept []string
	for _, f := range flags {
		need := rightWrite
		switch {
		case strings.EqualFold(f, store.FlagSeen):
			need = rightSeen
		case strings.EqualFold(f, store.FlagDeleted):
			need = rightDeleted
		}
		if r.has(need) {
			kept = append(kept, f)
		}
	}
	return kept
}

// permanentFlags lists the flags the selected mailbox lets the session
// store (OK [PERMANENTFLAGS], RFC 9051 §7.1): all of them in its own.
func (v *mailboxView) permanentFlags() string {
	if v.rights.has(rightSeen | rightWrite | rightDeleted) {
		return permanentFlags
	}
	var l []string
	if v.rights.has(rightWrite) {
		l = append(l, store.FlagAnswered, store.FlagFlagged)
	}
	if v.rights.has(rightDeleted) {
		l = append(l, store.FlagDeleted)
	}
	if v.rights.has(rightSeen) {
		l = append(l, store.FlagSeen)
	}
	if v.rights.has(rightWrite) {
		l = append(l, store.FlagDraft, `\*`)
	}
	return strings.Join(l, " ")
}

// maxCopyAcross bounds the messages one COPY or MOVE takes between
// accounts: each is parsed again, and all are committed at once.
var maxCopyAcross = 1000

// testHookAcross, when set by a test, runs in copyAcross between reading
// the messages and storing them.
var testHookAcross func()

// copyAcross copies messages of the selected mailbox into a mailbox of
// another account (from a shared mailbox into the session's own, or the
// other way): the store copies within one account only, so each message
// is read and stored again, with its flags (those the destination's
// rights allow) and internal date, all in one transaction. The copies
// count against the quota of the destination's owner. For a MOVE, each
// delivery also expunges its source message in that same transaction
// (store.Delivery.Replaces), so that a message is never in both mailboxes
// nor in neither (RFC 6851 §3.3: atomic). A message expunged meanwhile
// by another session is left out (RFC 9051 §6.4.9: a UID that no longer
// exists is ignored), and gone says which messages the MOVE expunged.
func (s *session) copyAcross(uids []uint32, dst mailboxRef, move bool) (out store.CopyResult, gone []store.Expunged, err error) {
	v := s.sel
	if len(uids) > maxCopyAcross {
		// RFC 5530 §3: LIMIT.
		return out, nil, no(codeLimit, "Copy at most "+itoa(maxCopyAcross)+" messages at once between accounts")
	}
	ds := make([]*store.Delivery, 0, len(uids))
	src := make([]uint32, 0, len(uids))
	for _, uid := range uids {
		m := &v.msgs[v.find(uid)]
		mr, err := s.srv.st.OpenMessage(s.ctx(), v.owner, v.id, uid)
		if storeNotFound(err) {
			continue // expunged meanwhile
		} else if err != nil {
			return out, nil, err
		}
		sp, err := s.srv.st.NewSpool()
		if err != nil {
			mr.Close()
			return out, nil, err
		}
		s.spools = append(s.spools, sp) // discarded after the command
		_, err = io.Copy(sp, mr)
		mr.Close()
		if err == nil {
			err = sp.Finish()
		}
		if err != nil {
			return out, nil, err
		}
		d, err := deliver.Prepare(sp, nil, []store.Target{{AccountID: dst.owner, Mailbox: dst.local,
			Flags: filterFlags(m.storedFlags(), dst.rights), InternalDate: m.internalDate()}})
		if err != nil {
			return out, nil, err
		}
		if move {
			d.Replaces = &store.MessageRef{AccountID: v.owner, MailboxID: v.id, UID: uid}
		}
		ds, src = append(ds, d), append(src, uid)
	}
	if testHookAcross != nil {
		testHookAcross()
	}
	res, err := s.srv.st.DeliverAll(s.ctx(), ds)
	if storeNotFound(err) && move {
		// A source message was expunged between its read and the
		// commit: leave out those gone and try once more.
		ds, src, err = s.withoutExpunged(ds, src)
		if err == nil {
			res, err = s.srv.st.DeliverAll(s.ctx(), ds)
		}
	}
	if err != nil {
		return out, nil, err
	}
	out.Source = src
	for i, r := range res {
		out.UIDValidity = r[0].UIDValidity
		out.Dest = append(out.Dest, r[0].UID)
		if move {
			gone = append(gone, store.Expunged{UID: src[i]})
		}
	}
	return out, gone, nil
}

// withoutExpunged drops from a MOVE's deliveries those whose source
// message the store has expunged since the view's last sync. When none
// is, the store's ErrNotFound was about the destination and stays.
func (s *session) withoutExpunged(ds []*store.Delivery, src []uint32) ([]*store.Delivery, []uint32, error) {
	v := s.sel
	exp, err := s.srv.st.ExpungedSince(s.ctx(), v.owner, v.id, v.base)
	if err != nil {
		return nil, nil, err
	}
	n := len(ds)
	for _, e := range exp {
		if i := slices.Index(src, e.UID); i >= 0 {
			ds, src = slices.Delete(ds, i, i+1), slices.Delete(src, i, i+1)
		}
	}
	if len(ds) == n {
		return nil, nil, fmt.Errorf("%w: the destination mailbox", store.ErrNotFound)
	}
	return ds, src, nil
}

// cmdNamespace: NAMESPACE (RFC 9051 §6.3.10; RFC 2342): the personal
// namespace and the shared one of other users' mailboxes.
func (s *session) cmdNamespace(cmd *imap.Command) error {
	s.w.Atom(`* NAMESPACE (("" "/")) ((`)
	s.w.Mailbox(sharedRoot + "/")
	s.w.Atom(` "/")) NIL`)
	s.w.CRLF()
	return nil
}
