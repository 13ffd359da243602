package thread

import (
	"cmp"
	"slices"
)

// node is a container of the REFERENCES algorithm: a message, or a dummy
// (msg nil) standing for a referenced message that is not among those
// threaded. While links are made (step 1) children form a doubly linked
// list, so that a child is unlinked in constant time; afterwards they are
// a slice.
type node struct {
	msg    *Msg
	parent *node
	// Step 1 links.
	first, last, prev, next *node
	// Steps 2 to 6.
	children []*node
	// Step 5, computed on demand.
	subjDone bool
	subj     string // casemapped base subject
	reply    bool
}

// link makes c the last child of p; c has no parent.
func link(p, c *node) {
	c.parent, c.prev, c.next = p, p.last, nil
	if p.last != nil {
		p.last.next = c
	} else {
		p.first = c
	}
	p.last = c
}

// unlink removes c from its parent's children.
func unlink(c *node) {
	p := c.parent
	if p == nil {
		return
	}
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		p.first = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		p.last = c.prev
	}
	c.parent, c.prev, c.next = nil, nil, nil
}

// reaches reports whether a is b or one of b's ancestors: making a a child
// of b would then make a loop.
func reaches(a, b *node) bool {
	if a.first == nil {
		return a == b // no descendants
	}
	for n := b; n != nil; n = n.parent {
		if n == a {
			return true
		}
	}
	return false
}

// References threads msgs with the REFERENCES algorithm of RFC 5256 §2.2
// (after Jamie Zawinski's): messages are linked by their References (or
// In-Reply-To) message IDs, missing parents stand in as dummies, which are
// then pruned, and threads whose roots have the same base subject are
// gathered. Siblings are in sent date order, ties broken by sequence
// number. Message-IDs compare case-sensitively. Links that would make a
// loop are not made, so any reference graph gives a forest.
func References(msgs []Msg) []*Thread {
	// Mailbox order decides which message keeps a duplicate Message-ID
	// and the order links are made in.
	ms := make([]*Msg, len(msgs))
	for i := range msgs {
		ms[i] = &msgs[i]
	}
	slices.SortStableFunc(ms, func(a, b *Msg) int { return cmp.Compare(a.SeqNum, b.SeqNum) })

	all := make([]*node, 0, len(ms))
	ids := make(map[string]*node, len(ms))
	byMsg := make([]*node, len(ms))
	for i, m := range ms {
		n := &node{msg: m}
		all = append(all, n)
		byMsg[i] = n
		// Step 1.A: a message without a Message-ID, or with one an
		// earlier message has, gets a unique one: it is not in ids.
		if m.MessageID != "" {
			if _, dup := ids[m.MessageID]; !dup {
				ids[m.MessageID] = n
			}
		}
	}
	get := func(id string) *node {
		n := ids[id]
		if n == nil {
			// Step 1.A: a dummy for a message not found, reused for
			// later references to it.
			n = &node{}
			ids[id] = n
			all = append(all, n)
		}
		return n
	}

	// Step 1.
	for i, m := range ms {
		refs := m.References
		if len(refs) == 0 && m.InReplyTo != "" {
			refs = []string{m.InReplyTo}
		}
		// 1.A: each reference the parent of the next, unless that one
		// has a parent already or the link makes a loop.
		for j := 0; j+1 < len(refs); j++ {
			p, c := get(refs[j]), get(refs[j+1])
			if c.parent == nil && !reaches(c, p) {
				link(p, c)
			}
		}
		// 1.B: the last reference is the message's parent. A parent it
		// has already (guessed from References, another message's or its
		// own) is broken off first, and only then is the new link made,
		// unless it makes a loop: "break the current parent/child link
		// before creating the new correct one. As in step 1.A, do not
		// create the parent/child link if creating that link would
		// introduce a loop". So a message whose last reference is itself,
		// or one of its descendants, ends with no parent; with no
		// references, it has none either.
		cur := byMsg[i]
		if len(refs) == 0 {
			unlink(cur)
			continue
		}
		p := get(refs[len(refs)-1])
		if cur.parent != p {
			unlink(cur)
			if !reaches(cur, p) {
				link(p, cur)
			}
		}
	}

	// Step 2: the nodes without a parent are the roots. The child lists
	// become slices.
	var roots []*node
	for _, n := range all {
		for c := n.first; c != nil; c = c.next {
			n.children = append(n.children, c)
		}
		if n.parent == nil {
			roots = append(roots, n)
		}
	}

	roots = prune(roots)

	// Step 4: sort the roots by sent date, a dummy by its first child
	// once its children are sorted.
	for _, r := range roots {
		if r.msg == nil {
			sortNodes(r.children)
		}
	}
	sortNodes(roots)

	roots = gatherSubjects(roots)

	// Step 6: sort every set of siblings, the deepest first, so that a
	// dummy (only at the top) sorts by its first child.
	for _, n := range postOrder(roots) {
		sortNodes(n.children)
	}
	sortNodes(roots)

	return toThreads(roots)
}

// postOrder returns the nodes of the forest, every node after its
// descendants, without recursion (threads can be as deep as there are
// messages).
func postOrder(roots []*node) []*node {
	var out []*node
	type frame struct {
		n    *node
		next int // index of the next child to visit
	}
	var stack []frame
	for _, r := range roots {
		stack = append(stack, frame{n: r})
		for len(stack) > 0 {
			f := &stack[len(stack)-1]
			if f.next < len(f.n.children) {
				c := f.n.children[f.next]
				f.next++
				stack = append(stack, frame{n: c})
				continue
			}
			out = append(out, f.n)
			stack = stack[:len(stack)-1]
		}
	}
	return out
}

// prune is step 3: dummies without children are deleted; a dummy with
// children is replaced by them, except at the top level when it has more
// than one (they would all become roots).
func prune(roots []*node) []*node {
	// Bottom up, so that the children of a node are pruned when it is.
	for _, n := range postOrder(roots) {
		if !slices.ContainsFunc(n.children, func(c *node) bool { return c.msg == nil }) {
			continue
		}
		var kids []*node
		for _, c := range n.children {
			if c.msg != nil {
				kids = append(kids, c)
				continue
			}
			for _, g := range c.children {
				g.parent = n
			}
			kids = append(kids, c.children...)
		}
		n.children = kids
	}
	var out []*node
	for _, r := range roots {
		switch {
		case r.msg != nil || len(r.children) > 1:
			out = append(out, r)
		case len(r.children) == 1:
			c := r.children[0]
			c.parent = nil
			out = append(out, c)
		}
	}
	return out
}

// sortNodes sorts siblings by sent date, then sequence number; a dummy
// sorts as its first child.
func sortNodes(ns []*node) {
	slices.SortStableFunc(ns, func(a, b *node) int { return compareSent(sortMsg(a), sortMsg(b)) })
}

// sortMsg returns the message n sorts as: its own, or for a dummy its
// first child's. (Prune leaves no dummy without children; should one
// remain, it sorts as a message without dates.)
func sortMsg(n *node) *Msg {
	for n.msg == nil && len(n.children) > 0 {
		n = n.children[0]
	}
	if n.msg == nil {
		return &noMsg
	}
	return n.msg
}

var noMsg Msg

// subject returns the casemapped base subject of the thread under root n
// (a dummy's first child's), and whether its message is a reply or forward.
func (n *node) subject() (string, bool) {
	m := n
	if m.msg == nil && len(m.children) > 0 {
		m = m.children[0]
	}
	if m.msg == nil {
		return "", false
	}
	if !m.subjDone {
		s, reply := baseSubject(m.msg.Subject)
		m.subj, m.reply, m.subjDone = casemap(s), reply, true
	}
	return m.subj, m.reply
}

// gatherSubjects is step 5: roots with the same base subject are gathered
// under one.
func gatherSubjects(roots []*node) []*node {
	// 5.B: one root per subject: a dummy if any, else preferably one
	// that is not a reply or forward, else the first.
	table := make(map[string]*node)
	for _, r := range roots {
		s, reply := r.subject()
		if s == "" {
			continue
		}
		t, ok := table[s]
		if !ok {
			table[s] = r
			continue
		}
		if t.msg != nil {
			if _, treply := t.subject(); r.msg == nil || treply && !reply {
				table[s] = r
			}
		}
	}
	// 5.C: merge each other root into the table's.
	index := make(map[*node]int, len(roots))
	for i, r := range roots {
		index[r] = i
	}
	for i := range roots {
		r := roots[i]
		if r == nil {
			continue
		}
		s, reply := r.subject()
		if s == "" {
			continue
		}
		t := table[s]
		if t == r {
			continue
		}
		_, treply := t.subject()
		switch {
		case t.msg == nil && r.msg == nil:
			// Both dummies: r's children join t's.
			for _, c := range r.children {
				c.parent = t
			}
			t.children = append(t.children, r.children...)
		case t.msg == nil || r.msg != nil && reply && !treply:
			// Under the dummy, or a reply under what it replies to.
			r.parent = t
			t.children = append(t.children, r)
		default:
			// A new dummy over both takes t's place.
			d := &node{children: []*node{t, r}}
			t.parent, r.parent = d, d
			roots[index[t]] = d
			index[d] = index[t]
			table[s] = d
		}
		roots[i] = nil
	}
	return slices.DeleteFunc(roots, func(n *node) bool { return n == nil })
}

// toThreads converts the forest, without recursion.
func toThreads(roots []*node) []*Thread {
	conv := func(n *node) *Thread {
		if n.msg == nil {
			return &Thread{}
		}
		return &Thread{SeqNum: n.msg.SeqNum, UID: n.msg.UID}
	}
	out := make([]*Thread, len(roots))
	type pair struct {
		n *node
		t *Thread
	}
	var work []pair
	for i, r := range roots {
		out[i] = conv(r)
		work = append(work, pair{r, out[i]})
	}
	for len(work) > 0 {
		p := work[len(work)-1]
		work = work[:len(work)-1]
		if len(p.n.children) == 0 {
			continue
		}
		p.t.Children = make([]*Thread, len(p.n.children))
		for i, c := range p.n.children {
			p.t.Children[i] = conv(c)
			work = append(work, pair{c, p.t.Children[i]})
		}
	}
	return out
}
