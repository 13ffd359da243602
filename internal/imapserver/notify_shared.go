package imapserver

import (
	"strings"

	"postel/internal/store"
)

// NOTIFY of the mailboxes shared with the session (RFC 5465 with RFC 4314
// and the shared namespace of shared.go). The groups whose filter can
// name a mailbox of another account are SUBSCRIBED (a shared mailbox is
// always seen as subscribed, as LIST shows it), SUBTREE and MAILBOXES;
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
// feed (store.ACL.SetACL): the followed set is read again then, so a
// mailbox whose r or l right was taken back is told of no more from that
// change on (the owner's feed is kept while the session may still look
// one of the owner's mailboxes up, so r given back counts too), and a
// mailbox renamed or deleted by its owner is followed under its new name
// or no more. What is not told: MailboxName and SubscriptionChange of
// shared mailboxes (a share is not a mailbox of the session's), and a
// mailbox newly shared by an account whose feed the session does not
// follow counts from the next NOTIFY SET (the grantee's own feed says
// nothing of it).

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
// mailbox.
func mayCoverShared(filter string) bool {
	return filter == "SUBSCRIBED" || filter == "SUBTREE" || filter == "MAILBOXES"
}

// followShared reads again which shared mailboxes NOTIFY follows, and
// follows their owners' feeds: an owner newly needed is subscribed to
// before the metadata snapshot of its mailboxes is read, an owner no
// longer needed is let go.
func (s *session) followShared() error {
	n := s.notify
	next := map[int64]*sharedFollow{}
	owners := map[int64]bool{}
	wanted := false
	for _, g := range n.groups {
		wanted = wanted || (mayCoverShared(g.Filter) && len(g.Events) > 0)
	}
	if wanted {
		mbs, rs, err := s.sharedMailboxes()
		if err != nil {
			return err
		}
		for i, mb := range mbs {
			if !rs[i].has(rightRead) {
				// Its owner's feed is kept: it tells when r is given
				// (back).
				owners[mb.AccountID] = true
				continue
			}
			for _, g := range n.groups {
				if mayCoverShared(g.Filter) && len(g.Events) > 0 && n.covers(g, mb.ID, mb.Name) {
					next[mb.ID] = &sharedFollow{owner: mb.AccountID, name: mb.Name, local: sharedLocal(mb.Name)}
					break
				}
			}
		}
	}
	for _, f := range next {
		owners[f.owner] = true
	}
	for id := range owners {
		if n.owners[id] == nil {
			sub := s.srv.st.Subscribe(id)
			of := &ownerFeed{sub: sub, done: make(chan struct{})}
			n.owners[id] = of
			go forward(sub.Ready(), n.ready, of.done)
		}
	}
	for id, f := range n.owners {
		if !owners[id] {
			close(f.done)
			f.sub.Close()
			delete(n.owners, id)
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
