package imapserver

import (
	"errors"
	"hash/fnv"
	"slices"
	"strings"

	"postel/internal/imap"
	"postel/internal/store"
)

// NOTIFY (RFC 5465): the client names groups of mailboxes and the events
// it wants of each; the server then sends them unasked, also while no
// command runs and outside IDLE.
//
// How it is built: the session follows its account's store changes
// through a subscription of its own (store.Feed, so changes made on
// another node of a PostgreSQL store come too, as for IDLE) and turns
// them into responses:
//   - mailboxes other than the selected one: STATUS for MessageNew,
//     MessageExpunge and FlagChange (§5.2, §5.3, §5.1), LIST for
//     MailboxName and SubscriptionChange (§5.4, §5.5), METADATA naming the
//     changed entries for MailboxMetadataChange and ServerMetadataChange
//     (§5.6, §5.7);
//   - the selected mailbox: its view (selected.go) as ever; under a
//     SELECTED group its EXISTS, EXPUNGE and FETCH are also sent while the
//     session waits for a command (§6.1: the client uses UIDs), under
//     SELECTED-DELAYED only when a command ends or in IDLE, where EXPUNGE
//     is allowed (§6.2). MessageNew's fetch attributes (§5.2) follow the
//     EXISTS of new messages.
//
// Changes are read again from the store, never taken from the feed as
// they are: the feed says what to look at. Names, subscriptions and
// metadata are diffed against a snapshot taken at NOTIFY SET. When the
// feed lost changes (store.ChangeResync), the session says
// [NOTIFICATIONOVERFLOW] and sends no more events until the next NOTIFY
// (§5.8 of RFC 5465 calls it an overflow).
//
// Without a SELECTED or SELECTED-DELAYED group (or with one whose events
// are NONE), after NOTIFY NONE and after an overflow, the client gets no
// event of the selected mailbox at all, not even the EXISTS, EXPUNGE and
// FETCH of base IMAP at the end of commands (§3.1: "NOTIFY NONE specifies
// that the client is not interested in any kind of event"; without a
// SELECTED group the client "doesn't want to receive any <message-event>s
// for the currently selected mailbox", the same as SELECTED NONE): the
// view is frozen as the client knows it (selectedMuted, selected.go).
// The responses of the session's own commands are still sent: EXPUNGE,
// MOVE and STORE tell what they did. A later NOTIFY SET with a SELECTED
// group brings the accumulated changes at once (§3.1).
//
// The mailboxes shared with the session are followed through their
// owners' feeds (notify_shared.go).
//
// What is not done: AnnotationChange (message annotations, RFC 5257, are
// not kept) is refused with [BADEVENT].

// notifyState is a session's NOTIFY setting and what it diffs against.
type notifyState struct {
	groups []imap.NotifyGroup // empty after NOTIFY NONE or an overflow
	sub    store.Subscription // the account's changes; nil when groups is empty

	// The shared mailboxes followed, by ID (IDs are unique across
	// accounts), and the feeds of their owners (notify_shared.go); ready
	// is signalled when any feed has changes, done ends the forwarder of
	// sub. visible is the snapshot of the names of the shared mailboxes
	// the session may look up (their subscriptions are in subscribed).
	shared  map[int64]*sharedFollow
	owners  map[int64]*ownerFeed
	visible map[int64]string
	ready   chan struct{}
	done    chan struct{}

	// The snapshot: mailbox names, roles and subscriptions by ID, and
	// the hash of each metadata entry's value by mailbox ID (0: the
	// server) when a metadata event is asked for.
	names      map[int64]string
	roles      map[int64]string
	subscribed map[int64]bool
	meta       map[int64]map[string]uint64
}

// The events of RFC 5465 §5 this server sends.
const (
	evMessageNew      = "MessageNew"
	evMessageExpunge  = "MessageExpunge"
	evFlagChange      = "FlagChange"
	evMailboxName     = "MailboxName"
	evSubscription    = "SubscriptionChange"
	evMailboxMetadata = "MailboxMetadataChange"
	evServerMetadata  = "ServerMetadataChange"
)

func isMessageEvent(e string) bool {
	return e == evMessageNew || e == evMessageExpunge || e == evFlagChange || e == "AnnotationChange"
}

// supportedEvents lists the events this session can send, for BADEVENT.
func (s *session) supportedEvents() []string {
	ev := []string{evMessageNew, evMessageExpunge, evFlagChange, evMailboxName, evSubscription}
	if s.metadataStore() != nil {
		ev = append(ev, evMailboxMetadata, evServerMetadata)
	}
	return ev
}

// NOTIFY SET and NOTIFY NONE (RFC 5465 §3).
func (s *session) cmdNotify(cmd *imap.Command) error {
	a := cmd.Args.(*imap.NotifyArgs)
	if a.None {
		// §3: NOTIFY NONE: no more events.
		s.stopNotify()
		s.notify = &notifyState{}
		return nil
	}
	supported := s.supportedEvents()
	haveSelected := false
	for gi := range a.Groups {
		g := &a.Groups[gi]
		selected := g.Filter == "SELECTED" || g.Filter == "SELECTED-DELAYED"
		if selected {
			// §6.1: one SELECTED or SELECTED-DELAYED group at most.
			if haveSelected {
				return bad("Only one SELECTED or SELECTED-DELAYED event group is allowed")
			}
			haveSelected = true
		}
		has := map[string]bool{}
		for i := range g.Events {
			e := &g.Events[i]
			if !slices.Contains(supported, e.Name) {
				// §3: an event the server does not support: NO with
				// BADEVENT listing those it does.
				return no("BADEVENT ("+strings.Join(supported, " ")+")", "Event not supported: "+e.Name)
			}
			if selected && !isMessageEvent(e.Name) {
				// §6.1, §8: SELECTED takes message events only.
				return bad("SELECTED and SELECTED-DELAYED take message events only")
			}
			has[e.Name] = true
			// MessageNew's fetch attributes never set \Seen: the client
			// did not ask to read the message.
			for k := range e.Fetch {
				e.Fetch[k].Peek = true
			}
		}
		// §5: MessageNew and MessageExpunge go together; FlagChange
		// needs both.
		if has[evMessageNew] != has[evMessageExpunge] {
			return bad("MessageNew and MessageExpunge must be given together")
		}
		if has[evFlagChange] && !has[evMessageNew] {
			return bad("FlagChange needs MessageNew and MessageExpunge")
		}
		for i, m := range g.Mailboxes {
			c, err := canonical(m)
			if err != nil {
				return err
			}
			if isSharedName(c) {
				// A shared mailbox as resolve names it (the owner's
				// address as the account has it), an owner's level with
				// the address canonical.
				if ref, err := s.parseName(c); err == nil && ref.shared() {
					c = ref.name
				} else if rest := strings.TrimPrefix(c, sharedRoot+"/"); !strings.Contains(rest[strings.IndexByte(rest, '@')+1:], "/") {
					if addr, err := store.CanonicalAddress(rest, false); err == nil {
						c = sharedRoot + "/" + addr
					}
				}
			}
			g.Mailboxes[i] = c
		}
	}
	s.stopNotify()
	n := &notifyState{groups: a.Groups, sub: s.srv.st.Subscribe(s.user.AccountID), owners: map[int64]*ownerFeed{}, visible: map[int64]string{}}
	n.startFeeds()
	s.notify = n
	// The subscription began before the snapshot: no change committed
	// after it is missed.
	err := s.notifySnapshot()
	if err == nil {
		err = s.followShared(false)
	}
	if err != nil {
		s.stopNotify()
		s.notify = nil
		return err
	}
	if a.Status {
		// §3: with STATUS, a STATUS response for every mailbox of the
		// groups now, but the selected one.
		mbs, err := s.srv.st.ListMailboxes(s.ctx(), s.user.AccountID)
		if err != nil {
			return err
		}
		items := []string{"MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN"}
		if s.condstore {
			items = append(items, "HIGHESTMODSEQ")
		}
		for _, mb := range mbs {
			if (s.sel == nil || mb.ID != s.sel.id) && n.match(s, mb.ID, mb.Name, evMessageNew) {
				s.writeStatus(mb, items)
			}
		}
		for id, f := range n.shared {
			if (s.sel == nil || id != s.sel.id) && n.match(s, id, f.name, evMessageNew) {
				mb, err := s.srv.st.Mailbox(s.ctx(), f.owner, f.local)
				if err != nil || mb.ID != id {
					continue // gone meanwhile
				}
				mb.Name = f.name
				s.writeStatus(mb, items)
			}
		}
	}
	return nil
}

// stopNotify ends the NOTIFY subscription, if any.
func (s *session) stopNotify() {
	if s.notify != nil && s.notify.sub != nil {
		s.notify.stopFeeds()
		s.notify.sub.Close()
		s.notify.sub = nil
	}
}

// notifySnapshot records the mailboxes and, when asked for, the metadata
// that later changes are diffed against.
func (s *session) notifySnapshot() error {
	n := s.notify
	mbs, err := s.srv.st.ListMailboxes(s.ctx(), s.user.AccountID)
	if err != nil {
		return err
	}
	n.names, n.roles, n.subscribed = map[int64]string{}, map[int64]string{}, map[int64]bool{}
	for _, mb := range mbs {
		n.names[mb.ID], n.roles[mb.ID], n.subscribed[mb.ID] = mb.Name, mb.SpecialUse, mb.Subscribed
	}
	n.meta = nil
	md := s.metadataStore()
	if md == nil || !n.asks(evMailboxMetadata, evServerMetadata) {
		return nil
	}
	n.meta = map[int64]map[string]uint64{}
	ids := []int64{0}
	for _, mb := range mbs {
		ids = append(ids, mb.ID)
	}
	for _, id := range ids {
		es, err := md.Metadata(s.ctx(), s.user.AccountID, n.names[id])
		if storeNotFound(err) {
			continue
		} else if err != nil {
			return err
		}
		n.meta[id] = metaHashes(es)
	}
	return nil
}

func metaHashes(es []store.MetadataEntry) map[string]uint64 {
	m := make(map[string]uint64, len(es))
	for _, e := range es {
		h := fnv.New64a()
		h.Write(e.Value)
		m[e.Name] = h.Sum64()
	}
	return m
}

// asks reports whether any group asks for one of events.
func (n *notifyState) asks(events ...string) bool {
	for _, g := range n.groups {
		for _, e := range g.Events {
			if slices.Contains(events, e.Name) {
				return true
			}
		}
	}
	return false
}

// selectedGroup is the SELECTED or SELECTED-DELAYED group, nil when none.
func (n *notifyState) selectedGroup() *imap.NotifyGroup {
	if n == nil {
		return nil
	}
	for i := range n.groups {
		if f := n.groups[i].Filter; f == "SELECTED" || f == "SELECTED-DELAYED" {
			return &n.groups[i]
		}
	}
	return nil
}

// match reports whether event of the mailbox id (named name) is to be
// sent (RFC 5465 §6): the first group whose filter covers the mailbox and
// that names the event, unless a covering group with NONE comes first.
// Message events of the selected mailbox are its view's, never a STATUS.
func (n *notifyState) match(s *session, id int64, name, event string) bool {
	selected := s.sel != nil && id == s.sel.id
	for _, g := range n.groups {
		switch g.Filter {
		case "SELECTED", "SELECTED-DELAYED":
			// §6.1: the selected mailbox's message events.
			if !selected || !isMessageEvent(event) {
				continue
			}
		default:
			if selected && isMessageEvent(event) {
				continue
			}
			if !n.covers(g, id, name) {
				continue
			}
		}
		if len(g.Events) == 0 {
			return false // NONE: nothing of these mailboxes
		}
		for _, e := range g.Events {
			if e.Name == event {
				return true
			}
		}
	}
	return false
}

// covers reports whether a group's filter covers a mailbox (RFC 5465 §6).
func (n *notifyState) covers(g imap.NotifyGroup, id int64, name string) bool {
	switch g.Filter {
	case "PERSONAL":
		// §6.4: every mailbox of the user's personal namespace, none
		// shared by another user.
		return !isSharedName(name)
	case "INBOXES":
		// §6.3: those the MDA delivers into: INBOX, and the Junk
		// mailbox junk filtering files into.
		return name == "INBOX" || n.roles[id] == store.RoleJunk
	case "SUBSCRIBED":
		// §6.5: the subscribed mailboxes; a shared one by its name in
		// the shared namespace, as LIST (SUBSCRIBED) shows it.
		return n.subscribed[id]
	case "SUBTREE":
		// §6.6: the named mailboxes and every mailbox below them.
		for _, m := range g.Mailboxes {
			if name == m || strings.HasPrefix(name, m+"/") {
				return true
			}
		}
	case "MAILBOXES":
		// §6.7: the named mailboxes only.
		return slices.Contains(g.Mailboxes, name)
	}
	return false
}

// notifyReady is the channel that says account changes are waiting,
// nil when NOTIFY is off.
func (s *session) notifyReady() <-chan struct{} {
	if s.notify == nil || s.notify.sub == nil {
		return nil
	}
	return s.notify.ready
}

// selectedReady is the channel that says the selected mailbox changed,
// when a SELECTED group wants those changes sent at once (RFC 5465 §6.1),
// nil otherwise.
func (s *session) selectedReady() <-chan struct{} {
	if s.sel == nil {
		return nil
	}
	if g := s.notify.selectedGroup(); g != nil && g.Filter == "SELECTED" && len(g.Events) > 0 {
		return s.sel.sub.Ready()
	}
	return nil
}

// waitCommand waits for the next command's first octet while sending the
// events NOTIFY asks for (RFC 5465 §3: at any time, not only in IDLE). A
// helper goroutine only peeks at the input; the session's goroutine keeps
// writing. It returns false when the session must end (a write failed).
func (s *session) waitCommand() bool {
	if s.notifyReady() == nil && s.selectedReady() == nil {
		return true
	}
	if s.br.Buffered() > 0 {
		return true
	}
	peeked := make(chan struct{})
	go func() {
		defer close(peeked)
		s.br.Peek(1) // an error comes again to ReadCommand
	}()
	for {
		var err error
		select {
		case <-peeked:
			return true
		case <-s.notifyReady():
			s.sendNotifications()
			err = s.flush()
		case <-s.selectedReady():
			// As in IDLE: a shared mailbox whose r right was taken back
			// is closed before anything more of it is told (shared.go).
			if s.sharedRevoked() {
				err = s.flush()
			} else if err = s.update(true); err == nil {
				err = s.flush()
			}
		}
		if err != nil || (s.sel != nil && s.sel.gone) {
			s.conn.CancelRead()
			<-peeked
			if err == nil {
				s.bye(s.selectedGone())
			}
			return false
		}
	}
}

// sendNotifications writes the events of the account's changes waiting
// in the subscription, about mailboxes other than the selected one's
// messages.
func (s *session) sendNotifications() {
	n := s.notify
	if n == nil || n.sub == nil {
		return
	}
	type status struct{ messages, flags bool }
	statuses := map[int64]*status{}
	var order []int64
	relist, refollow := false, false
	metas := map[int64]bool{}
	changes := n.sub.Next()
	for _, f := range n.owners {
		changes = append(changes, f.sub.Next()...)
	}
	// An owner's changes of mailboxes not followed are dropped when they
	// are told, after the followed set is read again: a change of rights
	// counts for the changes that follow it in the same batch.
	for _, c := range changes {
		own := c.AccountID == s.user.AccountID
		switch c.Kind {
		case store.ChangeResync:
			// RFC 5465 §5.8: events were lost: say so, and send no
			// more until the client's next NOTIFY.
			s.w.StatusResponse("", "OK", "NOTIFICATIONOVERFLOW", "Too many changes; NOTIFY again")
			s.stopNotify()
			s.notify = &notifyState{}
			return
		case store.ChangeAdded, store.ChangeExpunged, store.ChangeFlags:
			st := statuses[c.MailboxID]
			if st == nil {
				st = &status{}
				statuses[c.MailboxID] = st
				order = append(order, c.MailboxID)
			}
			if c.Kind == store.ChangeFlags {
				st.flags = true
			} else {
				st.messages = true
			}
		case store.ChangeSubscription:
			// The owner's are the owner's; the session's may be of
			// names of shared mailboxes.
			relist, refollow = relist || own, refollow || own
		case store.ChangeMailbox:
			// An owner's: a share granted, changed or taken back, or
			// a mailbox renamed or deleted.
			relist, refollow = relist || own, refollow || !own
		case store.ChangeAccount:
			refollow = refollow || !own // an owner disabled or enabled
		case store.ChangeShared:
			// The session's: a share of an owner it may not follow
			// yet, or an owner disabled or enabled.
			refollow = refollow || own
		case store.ChangeMetadata:
			if own || c.MailboxID != 0 {
				metas[c.MailboxID] = true
			}
		}
	}
	if relist {
		if err := s.notifyMailboxes(); err != nil {
			s.log.Warn("NOTIFY: reading mailboxes", "err", err)
		}
	}
	if refollow {
		if err := s.followShared(true); err != nil {
			s.log.Warn("NOTIFY: reading the shared mailboxes", "err", err)
		}
	}
	for _, id := range order {
		st := statuses[id]
		owner, local, name, ok := s.notifyMailbox(id)
		if !ok || (s.sel != nil && id == s.sel.id) {
			continue // the selected mailbox's view tells its own
		}
		var items []string
		// RFC 5465 §5.2, §5.3: MessageNew and MessageExpunge of
		// another mailbox are told by STATUS with MESSAGES and UIDNEXT;
		// §5.1: FlagChange by STATUS with UNSEEN (and UIDVALIDITY);
		// HIGHESTMODSEQ when CONDSTORE is on.
		if st.messages && (n.match(s, id, name, evMessageNew) || n.match(s, id, name, evMessageExpunge)) {
			items = append(items, "MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN")
		} else if st.flags && n.match(s, id, name, evFlagChange) {
			items = append(items, "UIDVALIDITY", "UNSEEN")
		}
		if len(items) == 0 {
			continue
		}
		if s.condstore {
			items = append(items, "HIGHESTMODSEQ")
		}
		mb, err := s.srv.st.Mailbox(s.ctx(), owner, local)
		if err != nil || mb.ID != id {
			continue // gone or renamed meanwhile: MailboxName tells
		}
		mb.Name = name
		s.writeStatus(mb, items)
	}
	for id := range metas {
		s.notifyMetadata(id)
	}
}

// notifyMailboxes diffs the account's mailboxes against the snapshot and
// writes their MailboxName and SubscriptionChange events (tellNames).
func (s *session) notifyMailboxes() error {
	n := s.notify
	mbs, err := s.srv.st.ListMailboxes(s.ctx(), s.user.AccountID)
	if err != nil {
		return err
	}
	for _, mb := range mbs {
		n.roles[mb.ID] = mb.SpecialUse // INBOXES sees it as it is now
	}
	for _, id := range s.tellNames(n.names, mbs, true) {
		delete(n.roles, id)
		if n.meta != nil {
			delete(n.meta, id)
		}
	}
	return nil
}

// tellNames diffs mailboxes against a snapshot of names by ID (the
// account's own, or those shared with it, notify_shared.go), updates it
// and the subscriptions of n.subscribed, and, with tell, writes the
// MailboxName (RFC 5465 §5.4) and SubscriptionChange (§5.5) events: LIST
// of a new name, LIST with OLDNAME for a rename (RFC 5258 §3.5), LIST
// (\NonExistent) for a deleted one, and LIST with or without \Subscribed
// for a subscription change. It returns the IDs gone from the snapshot.
func (s *session) tellNames(names map[int64]string, mbs []store.Mailbox, tell bool) (gone []int64) {
	n := s.notify
	seen := map[int64]bool{}
	for _, mb := range mbs {
		seen[mb.ID] = true
		old, had := names[mb.ID]
		wasSubscribed := n.subscribed[mb.ID]
		// The filters see the mailbox as it is now (SUBSCRIBED).
		names[mb.ID], n.subscribed[mb.ID] = mb.Name, mb.Subscribed
		switch {
		case !tell:
		case !had && n.match(s, mb.ID, mb.Name, evMailboxName):
			s.writeNotifyList(nil, mb.Name, "")
		case had && old != mb.Name && (n.match(s, mb.ID, mb.Name, evMailboxName) || n.match(s, mb.ID, old, evMailboxName)):
			s.writeNotifyList(nil, mb.Name, old)
		case had && wasSubscribed != mb.Subscribed && n.matchEither(s, mb.ID, mb.Name, evSubscription, wasSubscribed):
			var attrs []string
			if mb.Subscribed {
				attrs = []string{`\Subscribed`}
			}
			s.writeNotifyList(attrs, mb.Name, "")
		}
	}
	for id, name := range names {
		if seen[id] {
			continue
		}
		if tell && n.match(s, id, name, evMailboxName) {
			s.writeNotifyList([]string{`\NonExistent`}, name, "")
		}
		delete(names, id)
		delete(n.subscribed, id)
		gone = append(gone, id)
	}
	return gone
}

// writeNotifyList writes one LIST response of a mailbox event, with the
// OLDNAME extended data item when oldName is set.
func (s *session) writeNotifyList(attrs []string, name, oldName string) {
	s.w.Atom("* LIST ")
	s.w.Flags(attrs)
	s.w.Atom(` "/" `)
	s.w.Mailbox(name)
	if oldName != "" {
		s.w.Atom(` ("OLDNAME" (`)
		s.w.Mailbox(oldName)
		s.w.Atom("))")
	}
	s.w.CRLF()
}

// notifyMetadata writes the entries of a mailbox (0: the server) whose
// metadata changed since the snapshot, as an unsolicited METADATA
// response naming them without values (RFC 5464 §4.4.2; RFC 5465 §5.6,
// §5.7).
func (s *session) notifyMetadata(id int64) {
	n := s.notify
	md := s.metadataStore()
	if n.meta == nil || md == nil {
		return
	}
	owner, local, name, ok := s.notifyMailbox(id)
	if id == 0 {
		owner, local, name, ok = s.user.AccountID, "", "", n.serverMetadataWanted()
	} else if !ok {
		return // not followed (any more)
	} else {
		ok = n.match(s, id, name, evMailboxMetadata)
	}
	es, err := md.Metadata(s.ctx(), owner, local)
	if err != nil {
		return
	}
	if owner != s.user.AccountID {
		es = sharedEntries(es) // the owner's /private entries are the owner's
	}
	now := metaHashes(es)
	before := n.meta[id]
	n.meta[id] = now
	if !ok {
		return
	}
	var changed []string
	for k, h := range now {
		if old, had := before[k]; !had || old != h {
			changed = append(changed, k)
		}
	}
	for k := range before {
		if _, has := now[k]; !has {
			changed = append(changed, k)
		}
	}
	if len(changed) == 0 {
		return
	}
	slices.Sort(changed)
	s.w.Atom("* METADATA ")
	s.w.Mailbox(name)
	for _, k := range changed {
		s.w.SP()
		s.w.AString(k)
	}
	s.w.CRLF()
}

// serverMetadataWanted reports whether a group other than SELECTED asks
// for ServerMetadataChange: server entries belong to no mailbox, so no
// filter but SELECTED excludes them.
func (n *notifyState) serverMetadataWanted() bool {
	for _, g := range n.groups {
		if g.Filter == "SELECTED" || g.Filter == "SELECTED-DELAYED" {
			continue
		}
		for _, e := range g.Events {
			if e.Name == evServerMetadata {
				return true
			}
		}
	}
	return false
}

// selectedMuted reports whether NOTIFY keeps every event of the selected
// mailbox from the client: NOTIFY is on (or was turned off with NONE, or
// overflowed) and there is no SELECTED or SELECTED-DELAYED group with
// events (RFC 5465 §3.1: no such group is the same as SELECTED NONE).
func (s *session) selectedMuted() bool {
	if s.notify == nil {
		return false // no NOTIFY yet: base IMAP
	}
	g := s.notify.selectedGroup()
	return g == nil || len(g.Events) == 0
}

// notifyNewMessages writes the FETCH of the messages of the selected
// mailbox from index from on, which the client was just told of by
// EXISTS, when a SELECTED or SELECTED-DELAYED group gave MessageNew fetch
// attributes (RFC 5465 §5.2).
func (s *session) notifyNewMessages(from int) error {
	g := s.notify.selectedGroup()
	if g == nil {
		return nil
	}
	var items []imap.FetchItem
	for _, e := range g.Events {
		if e.Name == evMessageNew {
			items = e.Fetch
		}
	}
	if len(items) == 0 {
		return nil
	}
	v := s.sel
	p := planFetch(&imap.FetchArgs{Items: items}, true)
	var metas map[uint32]store.MessageMeta
	if p.meta {
		var uids []uint32
		for i := from; i < len(v.msgs); i++ {
			uids = append(uids, v.msgs[i].uid)
		}
		var err error
		if metas, err = s.srv.st.MessageMetas(s.ctx(), v.owner, v.id, uids); err != nil {
			return err
		}
	}
	for i := from; i < len(v.msgs); i++ {
		if v.msgs[i].expunged {
			continue
		}
		// A failure comes before the response's first octet: the
		// message goes untold, the client can FETCH it.
		if err := s.fetchOne(p, i, metas, false); err != nil && !errors.Is(err, errVanished) {
			s.log.Warn("NOTIFY: MessageNew fetch", "uid", v.msgs[i].uid, "err", err)
		}
	}
	return nil
}

// notifyFlagChanges reports whether the selected mailbox's flag changes
// made by others are told (FETCH FLAGS): always, but under a SELECTED or
// SELECTED-DELAYED group that does not ask for FlagChange (RFC 5465
// §5.1).
func (s *session) notifyFlagChanges() bool {
	g := s.notify.selectedGroup()
	if g == nil {
		return true
	}
	for _, e := range g.Events {
		if e.Name == evFlagChange {
			return true
		}
	}
	return false
}

// notifyFlagChangeUID reports whether a FETCH telling of a flag change
// carries the UID: under a SELECTED or SELECTED-DELAYED group asking for
// FlagChange (RFC 5465 §5.1: UID and FLAGS; the client may have seen
// expunges at any time, so sequence numbers alone will not do).
func (s *session) notifyFlagChangeUID() bool {
	return s.notify.selectedGroup() != nil && s.notifyFlagChanges()
}

// matchEither is match for a subscription change: the mailbox seen
// subscribed as it is now, or as it was (SUBSCRIBED covers a mailbox
// being unsubscribed).
func (n *notifyState) matchEither(s *session, id int64, name, event string, was bool) bool {
	if n.match(s, id, name, event) {
		return true
	}
	now := n.subscribed[id]
	n.subscribed[id] = was
	defer func() { n.subscribed[id] = now }()
	return n.match(s, id, name, event)
}
