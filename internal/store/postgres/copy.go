package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"postel/internal/store"
)

// Copy implements store.Store.
func (s *Store) Copy(ctx context.Context, accountID, fromMailboxID int64, uids []uint32, toMailboxID int64) (store.CopyResult, error) {
	var res store.CopyResult
	err := s.write(ctx, func(w *wtx) error {
		if err := w.lockAccounts(accountID); err != nil {
			return err
		}
		var err error
		res, err = w.copy(accountID, fromMailboxID, uids, toMailboxID)
		return err
	})
	return res, err
}

// Move implements store.Store: copy and expunge in one transaction, so the
// messages are in one place or the other, never both or none.
func (s *Store) Move(ctx context.Context, accountID, fromMailboxID int64, uids []uint32, toMailboxID int64) (store.CopyResult, []store.Expunged, error) {
	var res store.CopyResult
	var gone []store.Expunged
	err := s.write(ctx, func(w *wtx) error {
		if err := w.lockAccounts(accountID); err != nil {
			return err
		}
		var err error
		if res, err = w.copy(accountID, fromMailboxID, uids, toMailboxID); err != nil {
			return err
		}
		gone, err = w.expunge(accountID, fromMailboxID, expungeSel{uids: res.Source})
		return err
	})
	return res, gone, err
}

// copy adds rows in the destination that share the sources' blobs: the
// UIDs are taken at once (uidnext + n, one new MODSEQ), and the rows are
// copied by one INSERT ... SELECT. The account is locked.
func (w *wtx) copy(accountID, fromMailboxID int64, uids []uint32, toMailboxID int64) (store.CopyResult, error) {
	var res store.CopyResult
	a, err := w.account(accountID)
	if err != nil {
		return res, fmt.Errorf("%w: mailbox %d", store.ErrNotFound, fromMailboxID)
	}
	if err := checkMailbox(w.ctx, w.tx, accountID, fromMailboxID); err != nil {
		return res, err
	}
	if err := checkMailbox(w.ctx, w.tx, accountID, toMailboxID); err != nil {
		return res, err
	}
	type src struct {
		uid      uint32
		size     int64
		blob     int64
		keywords string
	}
	rows, err := w.tx.Query(w.ctx, `SELECT uid, size, blob_id, keywords FROM messages WHERE mailbox_id = $1 AND uid = ANY($2) ORDER BY uid`,
		fromMailboxID, uidsToInt64(uids))
	if err != nil {
		return res, err
	}
	srcs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (src, error) {
		var m src
		err := r.Scan(&m.uid, &m.size, &m.blob, &m.keywords)
		return m, err
	})
	if err != nil {
		return res, err
	}
	if len(srcs) == 0 {
		err := w.tx.QueryRow(w.ctx, `SELECT uidvalidity FROM mailboxes WHERE id = $1`, toMailboxID).Scan(&res.UIDValidity)
		return res, err
	}
	var total int64
	for _, m := range srcs {
		total += m.size
	}
	// The quota counts the copies, checked once for all of them.
	if !a.fits(total) {
		return res, fmt.Errorf("%w: account %d", store.ErrQuota, accountID)
	}
	n := int64(len(srcs))
	var first int64
	var modseq uint64
	if err := w.tx.QueryRow(w.ctx, `UPDATE mailboxes SET uidnext = uidnext + $2, highest_modseq = highest_modseq + 1
		WHERE id = $1 RETURNING uidvalidity, uidnext - $2, highest_modseq`, toMailboxID, n).Scan(&res.UIDValidity, &first, &modseq); err != nil {
		return res, err
	}
	if first+n-1 >= 1<<32-1 {
		return res, fmt.Errorf("%w: UID space of mailbox %d exhausted", store.ErrInvalid, toMailboxID)
	}
	source := make([]int64, n)
	dest := make([]int64, n)
	keywords := make([]string, n)
	// RFC 9051 §2.3.2: a keyword the destination has keeps its case there.
	speller := store.NewKeywordSpeller(func(k string) (string, error) { return w.mailboxKeyword(toMailboxID, k) })
	for i, m := range srcs {
		if keywords[i], err = speller.List(m.keywords); err != nil {
			return res, err
		}
		source[i], dest[i] = int64(m.uid), first+int64(i)
		res.Source = append(res.Source, m.uid)
		res.Dest = append(res.Dest, uint32(dest[i]))
		w.refBlob(m.blob, +1)
	}
	tag, err := w.tx.Exec(w.ctx, `INSERT INTO messages (mailbox_id, uid, modseq, sysflags, keywords, internal_date, save_date, size,
			blob_id, prefix, has_nul, `+metaCols+`)
		SELECT $2, u.dest, $3, m.sysflags, u.keywords, m.internal_date, $4, m.size, m.blob_id, m.prefix, m.has_nul, `+prefixed("m.", metaCols)+`
		FROM messages m JOIN unnest($5::bigint[], $6::bigint[], $7::text[]) AS u(src, dest, keywords) ON m.uid = u.src
		WHERE m.mailbox_id = $1`, fromMailboxID, toMailboxID, modseq, time.Now().Unix(), source, dest, keywords)
	if err != nil {
		return res, err
	}
	if tag.RowsAffected() != n {
		return res, fmt.Errorf("postgres: copied %d of %d messages", tag.RowsAffected(), n)
	}
	a.delta += total
	w.changes = append(w.changes, store.Change{AccountID: accountID, MailboxID: toMailboxID, Kind: store.ChangeAdded,
		UIDs: slices.Clone(res.Dest), ModSeq: modseq})
	return res, nil
}
