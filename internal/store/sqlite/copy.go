package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"

	"postel/internal/store"
)

// Copy implements store.Store.
func (s *Store) Copy(ctx context.Context, accountID, fromMailboxID int64, uids []uint32, toMailboxID int64) (store.CopyResult, error) {
	var res store.CopyResult
	err := s.write(ctx, func(w *wtx) error {
		var err error
		res, err = w.copy(accountID, fromMailboxID, uids, toMailboxID)
		return err
	})
	return res, err
}

// Move implements store.Store: copy and expunge in one transaction, so a
// crash leaves the messages in one place or the other, never both or none.
func (s *Store) Move(ctx context.Context, accountID, fromMailboxID int64, uids []uint32, toMailboxID int64) (store.CopyResult, []store.Expunged, error) {
	var res store.CopyResult
	var gone []store.Expunged
	err := s.write(ctx, func(w *wtx) error {
		var err error
		if res, err = w.copy(accountID, fromMailboxID, uids, toMailboxID); err != nil {
			return err
		}
		gone, err = w.expunge(accountID, fromMailboxID, res.Source)
		return err
	})
	return res, gone, err
}

// copy adds rows in the destination that share the sources' blobs.
func (w *wtx) copy(accountID, fromMailboxID int64, uids []uint32, toMailboxID int64) (store.CopyResult, error) {
	var res store.CopyResult
	if err := checkMailbox(w.ctx, w.tx, accountID, fromMailboxID); err != nil {
		return res, err
	}
	var name string
	if err := w.tx.QueryRowContext(w.ctx, `SELECT name FROM mailboxes WHERE id = ? AND account_id = ?`, toMailboxID, accountID).Scan(&name); err != nil {
		return res, notFound(err, "mailbox", toMailboxID)
	}
	want := slices.Clone(uids)
	slices.Sort(want)
	want = slices.Compact(want)
	type src struct {
		uid        uint32
		bits       int
		keywords   string
		internal   int64
		size, blob int64
		prefix     []byte
		nul        *bool
		meta       store.MessageMeta
	}
	var srcs []src
	for _, uid := range want {
		var m src
		row := w.tx.QueryRowContext(w.ctx, `SELECT uid, sysflags, keywords, internal_date, size, blob_id, prefix, has_nul, `+metaCols+`
			FROM messages WHERE mailbox_id = ? AND uid = ?`, fromMailboxID, uid)
		err := scanMeta(row, &m.meta, &m.uid, &m.bits, &m.keywords, &m.internal, &m.size, &m.blob, &m.prefix, &m.nul)
		if errors.Is(err, sql.ErrNoRows) {
			continue // not there (expunged meanwhile): nothing to copy
		} else if err != nil {
			return res, err
		}
		srcs = append(srcs, m)
	}
	var total int64
	for _, m := range srcs {
		total += m.size
	}
	now := time.Now()
	// RFC 9051 §2.3.2: a keyword the destination has keeps its case there.
	speller := store.NewKeywordSpeller(func(k string) (string, error) { return w.mailboxKeyword(toMailboxID, k) })
	for i, m := range srcs {
		// The quota counts the copies, checked once for all of them.
		check := int64(0)
		if i == 0 {
			check = total
		}
		mb, err := w.targetMailbox(accountID, name, check)
		if err != nil {
			return res, err
		}
		kw, err := speller.List(m.keywords)
		if err != nil {
			return res, err
		}
		if _, err := w.insertMessage(mb, accountID, m.size, m.blob, m.bits, kw, time.Unix(m.internal, 0), now, m.prefix, store.NULColumn(m.nul), &m.meta); err != nil {
			return res, err
		}
		res.UIDValidity = mb.uidvalidity
		res.Source = append(res.Source, m.uid)
		res.Dest = append(res.Dest, mb.uid)
	}
	if res.UIDValidity == 0 {
		if err := w.tx.QueryRowContext(w.ctx, `SELECT uidvalidity FROM mailboxes WHERE id = ?`, toMailboxID).Scan(&res.UIDValidity); err != nil {
			return res, err
		}
	}
	return res, nil
}
