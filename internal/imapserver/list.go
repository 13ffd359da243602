package imapserver

import (
	"slices"
	"strings"

	"postel/internal/imap"
	"postel/internal/store"
)

// listEntry is one name of the mailbox hierarchy: a mailbox, or a missing
// parent of one (such as "a/b" when only "a/b/c" exists), or, for the
// SUBSCRIBED selection and LSUB, a subscribed name that is neither (and
// its missing parents).
type listEntry struct {
	name       string
	mb         *store.Mailbox // nil for a name that is no mailbox
	node       bool           // a mailbox or a missing parent of one
	children   bool
	subscribed bool   // the name is in the account's subscriptions
	rights     rights // the session's on mb: every right in its own (acl.go)
}

// hierarchy returns the account's mailboxes, those shared with it that it
// may look up (shared.go), and their missing parents, sorted by name, each
// marked when subscribed; withSubs adds the subscribed names that are none
// of these, with their missing parents. Subscriptions are names of their
// own (RFC 3501 §6.3.6): a subscribed mailbox may be gone, and still
// listed by LSUB; a shared mailbox is subscribed by the name it has here.
func (s *session) hierarchy(withSubs bool) ([]*listEntry, error) {
	mbs, err := s.srv.st.ListMailboxes(s.ctx(), s.user.AccountID)
	if err != nil {
		return nil, err
	}
	subs, err := s.srv.st.Subscriptions(s.ctx(), s.user.AccountID)
	if err != nil {
		return nil, err
	}
	own := len(mbs)
	shared, rs, err := s.sharedMailboxes()
	if err != nil {
		return nil, err
	}
	mbs = append(mbs, shared...)
	byName := make(map[string]*listEntry, len(mbs))
	for i := range mbs {
		r := allRights
		if i >= own {
			r = rs[i-own]
		}
		byName[mbs[i].Name] = &listEntry{name: mbs[i].Name, mb: &mbs[i], node: true, rights: r}
	}
	for i := range mbs {
		name := mbs[i].Name
		for j := strings.LastIndexByte(name, '/'); j > 0; j = strings.LastIndexByte(name, '/') {
			name = name[:j]
			e := byName[name]
			if e == nil {
				e = &listEntry{name: name, node: true}
				byName[name] = e
			}
			e.children = true
		}
	}
	for _, name := range subs {
		if e := byName[name]; e != nil {
			e.subscribed = true
			continue
		}
		if !withSubs {
			continue
		}
		byName[name] = &listEntry{name: name, subscribed: true}
		for j := strings.LastIndexByte(name, '/'); j > 0; j = strings.LastIndexByte(name, '/') {
			name = name[:j]
			if byName[name] == nil {
				byName[name] = &listEntry{name: name}
			}
		}
	}
	out := make([]*listEntry, 0, len(byName))
	for _, e := range byName {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *listEntry) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// maxPattern bounds a LIST pattern, so that matching stays cheap.
const maxPattern = 2 * store.MaxMailboxName

// maxListWork bounds the pattern matching of one LIST: the sum of the
// patterns' lengths times the sum of the names' lengths (each match costs
// their product). Real clients stay far below; a crafted LIST with many
// long "*" patterns over many long names would otherwise run for minutes.
const maxListWork = 50_000_000

// LIST (RFC 9051 §6.3.9) with LIST-EXTENDED (RFC 5258), LIST-STATUS
// (RFC 5819) and SPECIAL-USE (RFC 6154); LSUB (RFC 3501 §6.3.9).
func (s *session) cmdList(cmd *imap.Command) error {
	a := cmd.Args.(*imap.ListArgs)
	lsub := cmd.Name == "LSUB"
	if len(a.Patterns) == 1 && a.Patterns[0] == "" && !lsub {
		// RFC 9051 §6.3.9: an empty pattern asks for the hierarchy
		// delimiter and the root.
		s.w.Atom(`* LIST (\Noselect) "/" ""`)
		s.w.CRLF()
		return nil
	}
	patterns := make([]string, 0, len(a.Patterns))
	for _, p := range a.Patterns {
		p = a.Reference + p
		if len(p) > maxPattern {
			return bad("Mailbox pattern too long")
		}
		patterns = append(patterns, p)
	}
	selSubscribed := slices.Contains(a.Select, "SUBSCRIBED") || lsub
	entries, err := s.hierarchy(selSubscribed)
	if err != nil {
		return err
	}
	patWork, nameWork := 0, 0
	for _, p := range patterns {
		patWork += len(p) + 1
	}
	for _, e := range entries {
		nameWork += len(e.name) + 1
	}
	if patWork*nameWork > maxListWork {
		// RFC 5530 §3: LIMIT, a server limit was exceeded.
		return no(codeLimit, "LIST too costly: use fewer or shorter patterns")
	}
	matches := func(name string) bool {
		for _, p := range patterns {
			if matchPattern(p, name) {
				return true
			}
		}
		return false
	}
	selSpecial := slices.Contains(a.Select, "SPECIAL-USE")
	recursive := slices.Contains(a.Select, "RECURSIVEMATCH")
	for i, e := range entries {
		if !matches(e.name) {
			continue
		}
		// childMatch: a descendant meets the selection criteria but not
		// the pattern (RFC 5258 §3.5 CHILDINFO; RFC 3501 §6.3.9 for LSUB
		// with "%").
		childMatch := false
		if selSubscribed && (recursive || lsub) {
			for _, d := range entries[i+1:] {
				if !strings.HasPrefix(d.name, e.name+"/") {
					break
				}
				if d.subscribed && !matches(d.name) {
					childMatch = true
					break
				}
			}
		}
		selected := true
		switch {
		case selSubscribed:
			selected = e.subscribed
		case selSpecial:
			selected = e.mb != nil && e.mb.SpecialUse != ""
		}
		if !selected && !childMatch {
			continue
		}
		if lsub {
			s.writeLsub(e, selected)
			continue
		}
		s.writeList(e, selected, a.ReturnSubscribed || selSubscribed, childMatch && recursive)
		if a.ReturnStatus != nil && e.mb != nil && e.rights.has(rightRead) { // RFC 4314 §4: STATUS needs r
			mb, err := s.listedStatus(e.mb)
			if storeNotFound(err) {
				continue // gone meanwhile
			} else if err != nil {
				return err
			}
			s.writeStatus(mb, a.ReturnStatus)
		}
		if a.ReturnMyRights && e.mb != nil && selected {
			s.writeMyRights(e.name, e.rights) // RFC 8440 §3
		}
	}
	return nil
}

// writeList writes one LIST response. A name that is no mailbox is
// \NonExistent when nothing is under it, or when listed only for its
// children (selected false): RFC 5258 §3.4 (a subscribed mailbox that is
// gone: "\Subscribed \NonExistent"); a missing parent of mailboxes is
// \Noselect.
func (s *session) writeList(e *listEntry, selected, withSubscribed, childInfo bool) {
	var attrs []string
	switch {
	case e.mb == nil && (!selected || !e.node):
		attrs = append(attrs, `\NonExistent`)
	case e.mb == nil:
		attrs = append(attrs, `\Noselect`)
	}
	if e.children {
		attrs = append(attrs, `\HasChildren`) // RFC 3348, RFC 9051 §7.3.1
	} else if e.node {
		attrs = append(attrs, `\HasNoChildren`)
	}
	if withSubscribed && e.subscribed {
		attrs = append(attrs, `\Subscribed`)
	}
	if e.mb != nil && e.mb.SpecialUse != "" {
		attrs = append(attrs, e.mb.SpecialUse) // RFC 6154 §2
	}
	s.w.Atom("* LIST ")
	s.w.Flags(attrs)
	s.w.Atom(` "/" `)
	s.w.Mailbox(e.name)
	if childInfo {
		s.w.Atom(` ("CHILDINFO" ("SUBSCRIBED"))`)
	}
	s.w.CRLF()
}

// writeLsub writes one LSUB response (RFC 3501 §7.2.3, §6.3.9): a
// subscribed name that cannot be selected (it is no mailbox: gone, never
// made, or a missing parent) is \Noselect, and so is a name listed only
// for its subscribed children ("%" matched the parent of a subscribed
// name: the server MUST return it, with \Noselect when it is not
// subscribed itself).
func (s *session) writeLsub(e *listEntry, subscribed bool) {
	s.w.Atom("* LSUB ")
	if subscribed && e.mb != nil {
		s.w.Atom("()")
	} else {
		s.w.Atom(`(\Noselect)`)
	}
	s.w.Atom(` "/" `)
	s.w.Mailbox(e.name)
	s.w.CRLF()
}

// listOne writes the LIST response of one mailbox (for SELECT in
// IMAP4rev2, RFC 9051 §6.3.2).
func (s *session) listOne(mb store.Mailbox) error {
	entries, err := s.hierarchy(false)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.name == mb.Name {
			s.writeList(e, true, false, false)
			return nil
		}
	}
	return nil
}

// matchPattern reports whether a mailbox name matches a LIST pattern (RFC
// 9051 §6.3.9): "*" matches anything, "%" anything but the hierarchy
// separator. INBOX, as the first level, matches case-insensitively. It
// runs in O(len(pattern)·len(name)) time whatever the wildcards.
func matchPattern(pattern, name string) bool {
	fold := 0 // name[:fold] compares case-insensitively
	if name == "INBOX" || strings.HasPrefix(name, "INBOX/") {
		fold = len("INBOX")
	}
	// dp[j]: the pattern read so far matches name[:j].
	dp := make([]bool, len(name)+1)
	nd := make([]bool, len(name)+1)
	dp[0] = true
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch c {
		case '*':
			any := false
			for j := range nd {
				any = any || dp[j]
				nd[j] = any
			}
		case '%':
			any := false
			for j := range nd {
				if j > 0 && name[j-1] == '/' {
					any = false
				}
				any = any || dp[j]
				nd[j] = any
			}
		default:
			nd[0] = false
			for j := 1; j < len(nd); j++ {
				b := name[j-1]
				nd[j] = dp[j-1] && (b == c || j-1 < fold && lower(b) == lower(c))
			}
		}
		dp, nd = nd, dp
	}
	return dp[len(name)]
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// listedStatus is what LIST-STATUS tells of a listed mailbox: the session's
// own come with their counts; a shared one's are read here, for STATUS
// alone (sharedMailboxes lists without them).
func (s *session) listedStatus(mb *store.Mailbox) (store.Mailbox, error) {
	if mb.AccountID == s.user.AccountID {
		return *mb, nil
	}
	full, err := s.srv.st.Mailbox(s.ctx(), mb.AccountID, sharedLocal(mb.Name))
	if err == nil && full.ID != mb.ID {
		err = store.ErrNotFound // renamed, and another took its name, meanwhile
	}
	if err != nil {
		return store.Mailbox{}, err
	}
	full.Name, full.SpecialUse, full.Subscribed = mb.Name, mb.SpecialUse, mb.Subscribed
	return full, nil
}
