package imapserver

import (
	"slices"
	"time"

	"postel/internal/imap"
	"postel/internal/imap/thread"
)

// Search contexts (RFC 5267 §4: CONTEXT=SEARCH and CONTEXT=SORT). A SEARCH
// or SORT with RETURN (UPDATE) keeps its result live: when new mail, flag
// changes or expunges change which messages match, the client is sent
// ESEARCH responses with ADDTO and REMOVEFROM, until CANCELUPDATE or
// until the mailbox is no longer selected (the contexts belong to the
// view).
//
// Invariants:
//   - A context's results are what the client was told: the command's
//     result, then every ADDTO and REMOVEFROM sent since, in the order of
//     the command (mailbox order for SEARCH, the sort order for SORT).
//   - Messages enter a result only after their EXISTS (contextUpdates
//     runs at the end of update) and leave it, when expunged, before their
//     EXPUNGE (contextExpunges runs first in sendExpunges): RFC 5267
//     §4.3.3 and §4.3.4, so that sequence numbers stay valid.
//   - The view notes every message whose flags changed or that arrived
//     (touch) while a context lives; those are searched again at the next
//     update. A program that names messages by position or by the saved
//     result is searched again over the whole mailbox when the mailbox or
//     "$" changed; one with times relative to now (OLDER, YOUNGER) also
//     when a second has passed since it was last searched.

// maxContexts bounds the live contexts of a session (RFC 5267 §4.3.1:
// "at least one updating context per client", more SHOULD be provided).
const maxContexts = 8

// searchContext is one live result.
type searchContext struct {
	tag      string
	uid      bool                 // the results are UIDs (UID SEARCH, UID SORT)
	key      *imap.SearchKey      // the search program
	criteria []imap.SortCriterion // the sort criteria; nil for SEARCH
	// results in order; SeqNum holds the UID, which orders ties as
	// sequence numbers do (RFC 5256 §3) and does not change on EXPUNGE.
	results []thread.Msg
	// positional: the program names messages by number, "*" or "$", so
	// an expunge, new mail or a new "$" can change the result; count and
	// saved are the mailbox's size and "$" when it was last searched.
	positional bool
	count      int
	saved      []uint32
	// timed: the program has OLDER or YOUNGER (RFC 5032); searched is
	// when it was last searched.
	timed    bool
	searched time.Time
}

// touch notes a message that arrived or whose flags changed, when a
// context may need it.
func (v *mailboxView) touch(uid uint32) {
	if len(v.contexts) == 0 || v.touchedAll {
		return
	}
	if len(v.touched) >= max(len(v.msgs), 1024) {
		v.touched, v.touchedAll = nil, true // search everything again
		return
	}
	v.touched = append(v.touched, uid)
}

// checkContextTag refuses UPDATE when the tag names a live context (RFC
// 5267 §4.3: "SHALL result in the server rejecting the searching command
// with a BAD response").
func (s *session) checkContextTag(cmd *imap.Command, ret []string) error {
	if !slices.Contains(ret, "UPDATE") {
		return nil
	}
	for _, c := range s.sel.contexts {
		if c.tag == cmd.Tag {
			return bad("Tag reuse: a context with this tag is live")
		}
	}
	return nil
}

// resultMsgs describes search results for a SEARCH context (UIDs only).
func (s *session) resultMsgs(res []found) []thread.Msg {
	out := make([]thread.Msg, len(res))
	for k, f := range res {
		out[k].UID = s.sel.msgs[f.i].uid
	}
	return out
}

// startContext keeps the result of the command as a live context, or
// refuses with an untagged NO [NOUPDATE "tag"] when there are too many
// (RFC 5267 §4.3.1; the other return options are honoured all the same).
func (s *session) startContext(cmd *imap.Command, key *imap.SearchKey, criteria []imap.SortCriterion, msgs []thread.Msg) {
	v := s.sel
	if len(v.contexts) >= maxContexts {
		s.w.StatusResponse("", "NO", `NOUPDATE "`+cmd.Tag+`"`, "Too many contexts, this search will not be updated")
		return
	}
	c := &searchContext{tag: cmd.Tag, uid: cmd.UID, key: key, criteria: criteria,
		positional: positionalKey(key), timed: usesKey(key, "OLDER") || usesKey(key, "YOUNGER")}
	c.noteSearched(v)
	c.results = make([]thread.Msg, len(msgs))
	for k, m := range msgs {
		c.results[k] = contextMsg(m)
	}
	v.contexts = append(v.contexts, c)
}

// noteSearched records the state a full search of the context saw.
func (c *searchContext) noteSearched(v *mailboxView) {
	c.count, c.searched = len(v.msgs), time.Now()
	if c.positional {
		c.saved = slices.Clone(v.saved)
	}
}

// stale reports whether the context must be searched again over the
// whole mailbox, touched holding the messages that changed.
func (c *searchContext) stale(v *mailboxView, touched []uint32) bool {
	switch {
	case c.positional && (len(touched) > 0 || c.count != len(v.msgs) || !slices.Equal(c.saved, v.saved)):
		return true
	case c.timed && time.Since(c.searched) >= time.Second:
		return true
	}
	return false
}

// positionalKey reports whether a search program's result can change
// with no change to the messages it matches but their positions: message
// sequence numbers, "*" (the last message or UID) and the saved result
// "$" (RFC 5182).
func positionalKey(k *imap.SearchKey) bool {
	switch k.Op {
	case "SEQSET":
		return true
	case "UID":
		if k.Set.Saved {
			return true
		}
		for _, r := range k.Set.Ranges {
			if r.Start == 0 || r.Stop == 0 {
				return true
			}
		}
	}
	for _, c := range k.Children {
		if positionalKey(c) {
			return true
		}
	}
	return false
}

// CANCELUPDATE (RFC 5267 §4.3.5): the contexts named end. A tag that names
// no live context is refused, and none ends.
func (s *session) cmdCancelUpdate(cmd *imap.Command) error {
	a := cmd.Args.(*imap.CancelUpdateArgs)
	v := s.sel
	for _, t := range a.Tags {
		if !slices.ContainsFunc(v.contexts, func(c *searchContext) bool { return c.tag == t }) {
			return no("", "No search context with tag "+t)
		}
	}
	v.contexts = slices.DeleteFunc(v.contexts, func(c *searchContext) bool { return slices.Contains(a.Tags, c.tag) })
	if len(v.contexts) == 0 {
		v.touched, v.touchedAll = nil, false
	}
	return nil
}

// contextExpunges sends the REMOVEFROM of the expunged messages the
// contexts hold, before their EXPUNGE (RFC 5267 §4.3.4: "MUST be sent
// prior to the expunge notification itself").
func (s *session) contextExpunges() {
	v := s.sel
	if v.expunged == 0 {
		return
	}
	for _, c := range v.contexts {
		gone := map[uint32]bool{}
		for _, m := range c.results {
			if i := v.find(m.UID); i < 0 || v.msgs[i].expunged {
				gone[m.UID] = true
			}
		}
		s.removeFrom(c, gone)
	}
}

// contextUpdates searches again the messages touched since the last
// update (all of them when the context is stale) and sends each context's
// REMOVEFROM, then ADDTO (RFC 5267 §4.3.2: "in a timely manner, as and
// when results change").
func (s *session) contextUpdates() error {
	v := s.sel
	if len(v.contexts) == 0 {
		return nil
	}
	touched, all := v.touched, v.touchedAll
	v.touched, v.touchedAll = nil, false
	for _, c := range v.contexts {
		if err := s.refreshContext(c, touched, all); err != nil {
			// Try again at the next update.
			v.touched, v.touchedAll = append(touched, v.touched...), all || v.touchedAll
			return err
		}
	}
	return nil
}

// refreshContext updates one context.
func (s *session) refreshContext(c *searchContext, touched []uint32, all bool) error {
	v := s.sel
	full := all || c.stale(v, touched)
	if !full && len(touched) == 0 {
		return nil
	}
	var cands []int
	looked := map[uint32]bool{}
	if full {
		for i := range v.msgs[:v.told] {
			if !v.msgs[i].expunged {
				cands = append(cands, i)
			}
		}
	} else {
		for _, u := range touched {
			if i := v.find(u); i >= 0 && i < v.told && !v.msgs[i].expunged && !looked[u] {
				looked[u] = true
				cands = append(cands, i)
			}
		}
		slices.Sort(cands)
	}
	res, err := s.searchIn(c.key, cands, c.criteria != nil, nil)
	if err != nil {
		return err
	}
	if full {
		c.noteSearched(v)
	}
	in := make(map[uint32]bool, len(c.results))
	for _, m := range c.results {
		in[m.UID] = true
	}
	matched := make(map[uint32]bool, len(res))
	var added []found
	for _, f := range res {
		u := v.msgs[f.i].uid
		matched[u] = true
		if !in[u] {
			added = append(added, f)
		}
	}
	gone := map[uint32]bool{}
	for _, m := range c.results {
		if !matched[m.UID] && (full || looked[m.UID]) {
			gone[m.UID] = true
		}
	}
	s.removeFrom(c, gone)
	s.addTo(c, added)
	return nil
}

// number is how a context names a message to the client; 0 when it is
// not in the view.
func (s *session) number(c *searchContext, uid uint32) uint32 {
	i := s.sel.find(uid)
	switch {
	case i < 0:
		return 0
	case c.uid:
		return uid
	}
	return uint32(i + 1)
}

// contextMsg is what a context keeps of a result: the sort values, not
// the threading ones.
func contextMsg(m thread.Msg) thread.Msg {
	m.SeqNum = m.UID
	m.MessageID, m.InReplyTo, m.References = "", "", nil
	return m
}

// removeFrom drops the messages gone from the context's results and says
// so: for SEARCH at context position 0 in mailbox order (RFC 5267 §4.3.4,
// RECOMMENDED); for SORT at their positions, each run of adjacent results
// as one pair, the pairs in order.
func (s *session) removeFrom(c *searchContext, gone map[uint32]bool) {
	if len(gone) == 0 {
		return
	}
	var pairs []contextPair
	var kept []thread.Msg
	prevGone := false
	for _, m := range c.results {
		if !gone[m.UID] {
			kept = append(kept, m)
			prevGone = false
			continue
		}
		n := s.number(c, m.UID)
		switch {
		case n == 0:
			// Not in the view (cannot happen: results leave before
			// their message does); nothing the client could apply.
		case c.criteria == nil && len(pairs) > 0:
			pairs[0].nums = append(pairs[0].nums, n)
		case c.criteria == nil:
			pairs = append(pairs, contextPair{0, []uint32{n}})
		case prevGone:
			pairs[len(pairs)-1].nums = append(pairs[len(pairs)-1].nums, n)
		default:
			pairs = append(pairs, contextPair{uint32(len(kept) + 1), []uint32{n}})
		}
		prevGone = n != 0
	}
	c.results = kept
	s.writeContextUpdate(c, "REMOVEFROM", pairs)
}

// addTo adds the messages that match now to the context's results and
// says so (RFC 5267 §4.3.3): for SEARCH at context position 0 in mailbox
// order; for SORT at the positions they take in the sort order, inserted
// from the first position on, so that each pair's position is where its
// messages go once the pairs before it are applied.
func (s *session) addTo(c *searchContext, added []found) {
	if len(added) == 0 {
		return
	}
	isNew := map[uint32]bool{}
	var msgs []thread.Msg
	if c.criteria == nil {
		msgs = s.resultMsgs(added)
	} else {
		msgs = s.threadMsgs(added)
	}
	for k := range msgs {
		msgs[k] = contextMsg(msgs[k])
		isNew[msgs[k].UID] = true
	}
	all := append(slices.Clone(c.results), msgs...)
	if c.criteria == nil {
		slices.SortFunc(all, func(a, b thread.Msg) int { return int(int64(a.UID) - int64(b.UID)) })
	} else {
		all = thread.Sort(all, c.criteria)
	}
	var pairs []contextPair
	for k, m := range all {
		if !isNew[m.UID] {
			continue
		}
		n := s.number(c, m.UID)
		switch {
		case c.criteria == nil && len(pairs) > 0:
			pairs[0].nums = append(pairs[0].nums, n)
		case c.criteria == nil:
			pairs = append(pairs, contextPair{0, []uint32{n}})
		case k > 0 && isNew[all[k-1].UID]:
			pairs[len(pairs)-1].nums = append(pairs[len(pairs)-1].nums, n)
		default:
			pairs = append(pairs, contextPair{uint32(k + 1), []uint32{n}})
		}
	}
	c.results = all
	s.writeContextUpdate(c, "ADDTO", pairs)
}

// contextPair is a context position and the results at it, in order.
type contextPair struct {
	pos  uint32
	nums []uint32
}

// writeContextUpdate writes "* ESEARCH (TAG "t") [UID] ADDTO|REMOVEFROM
// (position set ...)" (RFC 5267 §5 ret-data-addto, ret-data-removefrom).
func (s *session) writeContextUpdate(c *searchContext, item string, pairs []contextPair) {
	if len(pairs) == 0 {
		return
	}
	w := s.w
	w.Atom("* ESEARCH (TAG ")
	w.Quoted(c.tag)
	w.Atom(")")
	if c.uid {
		w.Atom(" UID")
	}
	w.SP()
	w.Atom(item)
	w.Atom(" (")
	for k, p := range pairs {
		if k > 0 {
			w.SP()
		}
		w.Number(uint64(p.pos))
		w.SP()
		if c.criteria == nil {
			w.SeqSet(imap.SeqSetFromNums(p.nums))
		} else {
			w.Atom(orderedSet(p.nums))
		}
	}
	w.Close()
	w.CRLF()
}
