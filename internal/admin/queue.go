package admin

import (
	"context"
	"errors"
	"time"

	"postel/internal/store"
)

// QueueEntry is a message waiting for remote recipients.
type QueueEntry struct {
	ID          int64       `json:"id"`
	AccountID   int64       `json:"account_id,omitempty"` // the submitting account, 0 for none
	From        string      `json:"from"`
	Recipients  []QueueRcpt `json:"recipients"`
	Size        int64       `json:"size"`
	Created     time.Time   `json:"created"`
	NextAttempt time.Time   `json:"next_attempt"`
	Attempts    int         `json:"attempts"`
	LeaseUntil  *time.Time  `json:"lease_until,omitempty"` // being sent until then
	DSNRet      string      `json:"dsn_ret,omitempty"`
	DSNEnvID    string      `json:"dsn_envid,omitempty"`
	RequireTLS  bool        `json:"requiretls,omitempty"`
	SMTPUTF8    bool        `json:"smtputf8,omitempty"`
	Body8Bit    bool        `json:"8bitmime,omitempty"`
}

// QueueRcpt is one recipient of a queued message.
type QueueRcpt struct {
	Address    string    `json:"address"`
	Status     string    `json:"status"` // pending, delivered, failed
	Attempts   int       `json:"attempts"`
	LastReply  string    `json:"last_reply,omitempty"`
	LastChange time.Time `json:"last_change"`
	Notify     []string  `json:"notify,omitempty"`
	ORcpt      string    `json:"orcpt,omitempty"`
}

func queueEntryOf(e store.QueueEntry) QueueEntry {
	q := QueueEntry{ID: e.ID, AccountID: e.AccountID, From: e.From, Size: e.Size, Created: e.Created.UTC(),
		NextAttempt: e.NextAttempt.UTC(), Attempts: e.Attempts, DSNRet: e.DSNRet, DSNEnvID: e.DSNEnvID,
		RequireTLS: e.RequireTLS, SMTPUTF8: e.SMTPUTF8, Body8Bit: e.Body8Bit, Recipients: []QueueRcpt{}}
	if !e.LeaseUntil.IsZero() {
		t := e.LeaseUntil.UTC()
		q.LeaseUntil = &t
	}
	for _, r := range e.Recipients {
		q.Recipients = append(q.Recipients, QueueRcpt{Address: r.Address, Status: r.Status, Attempts: r.Attempts,
			LastReply: r.LastReply, LastChange: r.LastChange.UTC(), Notify: r.Notify, ORcpt: r.ORcpt})
	}
	return q
}

// Store is the entry as the store holds it (without its body prefix), for
// the queue package's formatting.
func (q QueueEntry) Store() store.QueueEntry {
	e := store.QueueEntry{ID: q.ID, AccountID: q.AccountID, From: q.From, Size: q.Size, Created: q.Created,
		NextAttempt: q.NextAttempt, Attempts: q.Attempts, DSNRet: q.DSNRet, DSNEnvID: q.DSNEnvID,
		RequireTLS: q.RequireTLS, SMTPUTF8: q.SMTPUTF8, Body8Bit: q.Body8Bit}
	if q.LeaseUntil != nil {
		e.LeaseUntil = *q.LeaseUntil
	}
	for _, r := range q.Recipients {
		e.Recipients = append(e.Recipients, store.QueueRcpt{Address: r.Address, Status: r.Status, Attempts: r.Attempts,
			LastReply: r.LastReply, LastChange: r.LastChange, Notify: r.Notify, ORcpt: r.ORcpt})
	}
	return e
}

// QueueRetry is the result of RetryQueued.
type QueueRetry struct {
	ID int64 `json:"id"`
	// Now: a running server was woken and starts the attempt now; false
	// when no server runs (the entry is tried when one starts).
	Now bool `json:"now"`
}

func noQueueEntry(id int64, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return refusal(KindNotFound, "no queue entry %d (postel queue list shows them)", id)
	}
	return err
}

// Queue lists the outbound queue.
func (a *Admin) Queue(ctx context.Context) ([]QueueEntry, error) {
	all, err := a.st.Queue(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]QueueEntry, 0, len(all))
	for _, e := range all {
		out = append(out, queueEntryOf(e))
	}
	return out, nil
}

// QueueEntry reads one entry of the queue.
func (a *Admin) QueueEntry(ctx context.Context, id int64) (QueueEntry, error) {
	e, err := a.st.QueueEntry(ctx, id)
	if err != nil {
		return QueueEntry{}, noQueueEntry(id, err)
	}
	return queueEntryOf(e), nil
}

// RetryQueued makes an entry due now and wakes the running server's
// queue, which starts the attempt at once.
func (a *Admin) RetryQueued(ctx context.Context, id int64) (QueueRetry, error) {
	if err := a.st.RetryQueued(ctx, id); err != nil {
		return QueueRetry{}, noQueueEntry(id, err)
	}
	if a.kick == nil {
		return QueueRetry{ID: id}, nil
	}
	a.kick()
	return QueueRetry{ID: id, Now: true}, nil
}

// DropQueued removes an entry without a bounce.
func (a *Admin) DropQueued(ctx context.Context, id int64) (QueueEntry, error) {
	e, err := a.QueueEntry(ctx, id)
	if err != nil {
		return QueueEntry{}, err
	}
	if err := a.st.DeleteQueued(ctx, id); err != nil {
		return QueueEntry{}, noQueueEntry(id, err)
	}
	return e, nil
}

// KickQueue wakes the running server's queue: every entry that is due is
// tried now rather than at the next poll.
func (a *Admin) KickQueue(ctx context.Context) error {
	if a.kick == nil {
		return refusal(KindRefused, "no server is running on this data directory: the queue is sent when postel serve starts")
	}
	a.kick()
	return nil
}

// Reload makes the running server read its configuration, certificates and
// DKIM keys again, as SIGHUP does.
func (a *Admin) Reload(ctx context.Context) error {
	if a.reload == nil {
		return refusal(KindRefused, "no server is running on this data directory: nothing to reload")
	}
	if err := a.reload(ctx); err != nil {
		return refusal(KindRefused, "%v", err)
	}
	return nil
}
