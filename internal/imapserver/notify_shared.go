package imapserver

import (
	"slices"
	"strings"

	"postel/internal/imap"
	"postel/internal/store"
)

// NOTIFY of the mailboxes shared with the session (RFC 5465 with RFC 4314
// and the shared namespace of shared.go). The groups whose filter can
// name a mailbox of another account are SUBSCRIBED (a shared mailbox
// subscribed by its name here, as LIST shows it), SUBTREE and MAILBOXES;
// PERSONAL and INBOXES never cover one (§6.3, §6.4: the user's personal
// namespace). A shared mailbox is followed when such a group covers it
// and the session may look it up and read it (l and r: STATUS needs r,
// RFC 4314 §4): the session then follows its owner's change feed, one
// subscription per owner, the same feed a selected shared mailbox and
// IDLE follow (select.go), and tells MessageNew, MessageExpunge and
// FlagChange by STATUS, and MailboxMetadataChange of its /shared entries
// by METADATA, as for its own mailboxes (notify.go).
//
// Every change of an access control list is announced on its owner's
// feed (store.ACL.SetACL), and on the grantee's when the entry names it
// (store.ChangeShared, also told when an owner sharing with it is
// disabled or enabled): the followed set is read again then, so a
// mailbox whose r or l right was taken back is told of no more from that
// change on, a right given back or a mailbox newly shared (even by an
// owner whose feed the session did not follow) counts from that change
// on, and a mailbox renamed or deleted by its owner is followed under its
// new name or no more. MailboxName (RFC 5465 §5.4) and SubscriptionChange
// (§5.5) of the shared mailboxes are told as for the session's own
// (tellNames): the l right gained or lost (or the owner enabled or
// disabled) as a mailbox created or deleted, a rename with OLDNAME, a
// subscription of its shared name. What is not told: a mailbox shared
// with anyone (store.Anyone) by an owner the session does not follow
// until the next NOTIFY SET (such a change is not told to every account's
// feed), and the owner's level "Other Users/<owner>" as a parent affected
// (§5.4; not for the session's own mailboxes either).

// sharedFollow is a shared mailbox NOTIFY follows.
type sharedFollow struct {
	owner int64
	name  string // in the shared namespace
	local string // the owner's name of it
}

// ownerFeed is the subscription to the changes of an owner of followed
// shared mailboxes, and the end of its forwarder.
type ownerFeed struct {
	sub  store.Subscription
	done chan struct{}
}

// isSharedName reports whether a canonical name is in the shared
// namespace (parseName: the session's own mailboxes never are).
func isSharedName(name string) bool { return strings.HasPrefix(name, sharedRoot+"/") }

// forward signals to each time from does, until done is closed: the
// session waits on one channel for its account's changes and those of
// the owners it follows.
func forward(from <-chan struct{}, to chan struct{}, done chan struct{}) {
	for {
		select {
		case <-from:
			select {
			case to <- struct{}{}:
			default: // a signal is waiting already
			}
		case <-done:
			return
		}
	}
}

// startFeeds makes the channel notifyReady gives and forwards the
// account's own subscription to it.
func (n *notifyState) startFeeds() {
	n.ready, n.done = make(chan struct{}, 1), make(chan struct{})
	go forward(n.sub.Ready(), n.ready, n.done)
}

// stopFeeds ends the forwarders and the owners' subscriptions.
func (n *notifyState) stopFeeds() {
	if n.done != nil {
		close(n.done)
		n.done = nil
	}
	for id, f := range n.owners {
		close(f.done)
		f.sub.Close()
		delete(n.owners, id)
	}
}

// mayCoverShared reports whether a group but SELECTED may cover a shared
// mailbox: SUBSCRIBED, and SUBTREE or MAILBOXES naming one in the shared
// namespace (or, for SUBTREE, the namespace itself), so that a session
// watching its own mailboxes follows no owner's changes.
func mayCoverShared(g imap.NotifyGroup) bool {
	switch g.Filter {
	case "SUBSCRIBED":
		return true
	case "SUBTREE", "MAILBOXES":
		return slices.ContainsFunc(g.Mailboxes, func(m string) bool { return m == sharedRoot || isSharedName(m) })
	}
	return false
}

// followShared reads again which shared mailboxes NOTIFY follows, and
// follows their owners' feeds; with tell, it writes the MailboxName and
// SubscriptionChange events of the mailboxes shared with the session
// since the last read (tellNames). The owner of every mailbox the session
// may look up is followed, so that a rename, a delete or a right given
// back comes through its feed; what the owner's feed cannot tell (a
// mailbox newly shared by an owner not followed, an owner enabled again)
// comes on the session's own as store.ChangeShared. An owner newly needed
// is subscribed to before the mailboxes are read again, and before the
// metadata snapshot of its mailboxes is read, so that none of its changes
// is missed; an owner no longer needed is let go.
func (s *session) followShared(tell bool) error {
	n := s.notify
	wanted := false
	for _, g := range n.groups {
		wanted = wanted || (mayCoverShared(g) && len(g.Events) > 0)
	}
	var mbs []store.Mailbox
	var rs []rights
	owners := map[int64]bool{}
	for round := 0; wanted; round++ {
		var err error
		if mbs, rs, err = s.sharedMailboxes(); err != nil {
			return err
		}
		added := false
		for _, mb := range mbs {
			owners[mb.AccountID] = true
			if n.owners[mb.AccountID] == nil {
				sub := s.srv.st.Subscribe(mb.AccountID)
				of := &ownerFeed{sub: sub, done: make(chan struct{})}
				n.owners[mb.AccountID] = of
				go forward(sub.Ready(), n.ready, of.done)
				added = true
			}
		}
		// Read once more after a new owner's feed began (at most once:
		// changes after that read come through the feed).
		if !added || round > 0 {
			break
		}
	}
	for id, f := range n.owners {
		if !owners[id] {
			close(f.done)
			f.sub.Close()
			delete(n.owners, id)
		}
	}
	var subs []string
	if wanted {
		var err error
		if subs, err = s.srv.st.Subscriptions(s.ctx(), s.user.AccountID); err != nil {
			return err
		}
	}
	for i := range mbs {
		// Subscribed as LIST shows it: by its name in the subscriptions.
		mbs[i].Subscribed = slices.Contains(subs, mbs[i].Name)
	}
	// RFC 5465 §5.4: granting or revoking l (here also an owner enabled
	// or disabled, sharingOwner) is a mailbox created or deleted for the
	// session: LIST, or LIST (\NonExistent). §5.9 would have a LIST with
	// \NoAccess when l is lost; it is not sent, as it would tell the
	// session of a mailbox it may no longer look up (RFC 4314 §4), and
	// §5.4's rule is a MUST. It also records the subscriptions the
	// SUBSCRIBED filter reads below.
	s.tellNames(n.visible, mbs, tell)
	next := map[int64]*sharedFollow{}
	for i := range mbs {
		mb := &mbs[i]
		if !rs[i].has(rightRead) {
			continue // RFC 5465 §5: events need l and r
		}
		for _, g := range n.groups {
			if mayCoverShared(g) && len(g.Events) > 0 && n.covers(g, mb.ID, mb.Name) {
				next[mb.ID] = &sharedFollow{owner: mb.AccountID, name: mb.Name, local: sharedLocal(mb.Name)}
				break
			}
		}
	}
	for id := range n.shared {
		if next[id] == nil && n.meta != nil {
			delete(n.meta, id)
		}
	}
	before := n.shared
	n.shared = next
	if n.meta == nil {
		return nil
	}
	md := s.metadataStore()
	for id, f := range next {
		if before[id] != nil && n.meta[id] != nil {
			continue // its snapshot stands; a change tells the rest
		}
		es, err := md.Metadata(s.ctx(), f.owner, f.local)
		if storeNotFound(err) {
			continue
		} else if err != nil {
			return err
		}
		n.meta[id] = metaHashes(sharedEntries(es))
	}
	return nil
}

// sharedEntries keeps the /shared entries: the owner's /private ones are
// the owner's alone (RFC 5464 §3.3).
func sharedEntries(es []store.MetadataEntry) []store.MetadataEntry {
	var out []store.MetadataEntry
	for _, e := range es {
		if !isPrivateEntry(e.Name) {
			out = append(out, e)
		}
	}
	return out
}

// notifyMailbox says where the mailbox of id NOTIFY follows is: its
// owner, the owner's name of it and the session's name of it; ok is false
// for a mailbox not followed.
func (s *session) notifyMailbox(id int64) (owner int64, local, name string, ok bool) {
	n := s.notify
	if name, ok := n.names[id]; ok {
		return s.user.AccountID, name, name, true
	}
	if f := n.shared[id]; f != nil {
		return f.owner, f.local, f.name, true
	}
	return 0, "", "", false
}
