package store

import "sync"

// Hub fans committed changes out to the subscriptions of each account. It is
// the in-process half of change notification; a multi-node store (PostgreSQL
// LISTEN/NOTIFY) feeds the same Hub from what other nodes committed.
//
// Publish never blocks: changes queue per subscription until taken.
type Hub struct {
	mu   sync.Mutex
	subs map[int64]map[*hubSub]struct{}
}

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{subs: map[int64]map[*hubSub]struct{}{}}
}

// Subscribe returns a subscription to the changes of one account.
func (h *Hub) Subscribe(accountID int64) Subscription {
	s := &hubSub{hub: h, account: accountID, ready: make(chan struct{}, 1)}
	h.mu.Lock()
	m := h.subs[accountID]
	if m == nil {
		m = map[*hubSub]struct{}{}
		h.subs[accountID] = m
	}
	m[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// Publish announces committed changes. Call only after the commit.
func (h *Hub) Publish(changes []Change) {
	if len(changes) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range changes {
		for s := range h.subs[c.AccountID] {
			s.add(c)
		}
	}
}

// PublishResync tells every subscription to re-read its account
// (ChangeResync): the changes published may not be all there were.
func (h *Hub) PublishResync() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for account, subs := range h.subs {
		for s := range subs {
			s.add(Change{AccountID: account, Kind: ChangeResync})
		}
	}
}

type hubSub struct {
	hub     *Hub
	account int64
	ready   chan struct{}

	mu      sync.Mutex
	pending []Change
}

// MaxPending bounds the changes waiting in one subscription. Beyond it the
// waiting changes are merged into one per mailbox, with the highest MODSEQ
// and without UIDs: a consumer that lags that far re-reads the store, as
// IMAP sessions always do.
const MaxPending = 1024

func (s *hubSub) add(c Change) {
	s.mu.Lock()
	s.pending = append(s.pending, c)
	if len(s.pending) > MaxPending {
		s.pending = merge(s.pending)
	}
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// merge keeps one change per mailbox, in order of first appearance.
func merge(changes []Change) []Change {
	at := map[int64]int{}
	var out []Change
	for _, c := range changes {
		i, ok := at[c.MailboxID]
		if !ok {
			at[c.MailboxID] = len(out)
			c.UIDs = nil
			out = append(out, c)
			continue
		}
		m := &out[i]
		m.ModSeq = max(m.ModSeq, c.ModSeq)
		switch {
		case m.Kind == c.Kind:
		case c.MailboxID == 0:
			// ChangeAccount, ChangeShared, server metadata and
			// ChangeResync: re-reading everything covers them all.
			m.Kind = ChangeResync
		default:
			m.Kind = ChangeMailbox
		}
	}
	return out
}

func (s *hubSub) Ready() <-chan struct{} { return s.ready }

func (s *hubSub) Next() []Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pending
	s.pending = nil
	return p
}

func (s *hubSub) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	if m := s.hub.subs[s.account]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(s.hub.subs, s.account)
		}
	}
}
