package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"postel/internal/store"
)

// Deliver implements store.Store: the body becomes one blob shared by every
// local target and the queue entry; one message row per target.
func (s *Store) Deliver(ctx context.Context, d *store.Delivery) ([]store.Delivered, error) {
	out, err := s.DeliverAll(ctx, []*store.Delivery{d})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// DeliverAll implements store.Store: one transaction, so all or none.
func (s *Store) DeliverAll(ctx context.Context, ds []*store.Delivery) ([][]store.Delivered, error) {
	prepared := make([]*store.PreparedDelivery, len(ds))
	var accounts []int64
	for i, d := range ds {
		p, err := store.PrepareDelivery(d)
		if err != nil {
			return nil, err
		}
		prepared[i] = p
		for _, t := range p.Targets {
			accounts = append(accounts, t.AccountID)
		}
		if p.Replaces != nil {
			accounts = append(accounts, p.Replaces.AccountID)
		}
	}
	var out [][]store.Delivered
	err := s.write(ctx, func(w *wtx) error {
		if err := w.lockAccounts(accounts...); err != nil {
			return err
		}
		out = make([][]store.Delivered, len(prepared))
		for i, p := range prepared {
			var err error
			if out[i], err = w.deliver(p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The bodies are in the database; the spools can go.
	for _, d := range ds {
		d.Spool.Discard()
	}
	return out, nil
}

// deliver stores one delivery inside a write that locked its accounts.
func (w *wtx) deliver(d *store.PreparedDelivery) ([]store.Delivered, error) {
	if r := d.Replaces; r != nil {
		// First, so that the quota counts the space it frees.
		if err := checkMailbox(w.ctx, w.tx, r.AccountID, r.MailboxID); err != nil {
			return nil, err
		}
		gone, err := w.expunge(r.AccountID, r.MailboxID, expungeSel{uids: []uint32{r.UID}})
		if err != nil {
			return nil, err
		}
		if len(gone) == 0 {
			return nil, fmt.Errorf("%w: message %d of mailbox %d", store.ErrNotFound, r.UID, r.MailboxID)
		}
	}
	refs := len(d.Targets)
	if d.Queue != nil {
		refs++
	}
	blobID, bodySize, err := w.insertBlob(d.Spool, refs, &d.Meta)
	if err != nil {
		return nil, err
	}
	size := int64(len(d.Prefix)) + bodySize
	nul := store.NULOf(d.Prefix, d.Spool.HasNUL())
	now := time.Now()
	out := make([]store.Delivered, len(d.Targets))
	for i, t := range d.Targets {
		a, err := w.account(t.AccountID)
		if err != nil {
			return nil, fmt.Errorf("%w: mailbox %s of account %d", store.ErrNotFound, t.Mailbox, t.AccountID)
		}
		if !a.fits(size) {
			return nil, fmt.Errorf("%w: account %d", store.ErrQuota, t.AccountID)
		}
		// RFC 9051 §2.3.2: a keyword the mailbox has keeps its case there.
		kw, err := store.KeywordListCase(t.Keywords, func(k string) (string, error) {
			var id int64
			err := w.tx.QueryRow(w.ctx, `SELECT id FROM mailboxes WHERE account_id = $1 AND name = $2`, t.AccountID, t.Mailbox).Scan(&id)
			if errors.Is(err, pgx.ErrNoRows) {
				return "", nil // insertMessage answers ErrNotFound
			} else if err != nil {
				return "", err
			}
			return w.mailboxKeyword(id, k)
		})
		if err != nil {
			return nil, err
		}
		if out[i], err = w.insertMessage(t.AccountID, t.Mailbox, size, blobID, t.Bits, kw, t.InternalDate, now, d.Prefix, nul, &d.Meta); err != nil {
			return nil, err
		}
	}
	if q := d.Queue; q != nil {
		qid, err := w.enqueue(q, blobID, bodySize, now)
		if err != nil {
			return nil, err
		}
		if len(out) == 0 {
			out = append(out, store.Delivered{})
		}
		out[0].QueueID = qid
	}
	return out, nil
}

// insertMessage adds a message to the account's mailbox name at its next
// UID, with a new MODSEQ, both taken by one UPDATE of the mailbox's row
// (whose lock orders concurrent writers), and records the change.
func (w *wtx) insertMessage(accountID int64, mailbox string, size, blobID int64, bits int, keywords string, internal, saved time.Time, prefix []byte, nul store.NUL, meta *store.MessageMeta) (store.Delivered, error) {
	var d store.Delivered
	var modseq int64
	err := w.tx.QueryRow(w.ctx, `WITH m AS (UPDATE mailboxes SET uidnext = uidnext + 1, highest_modseq = highest_modseq + 1
			WHERE account_id = $1 AND name = $2 RETURNING id, uidvalidity, uidnext - 1 AS uid, highest_modseq),
		ins AS (INSERT INTO messages (mailbox_id, uid, modseq, sysflags, keywords, internal_date, save_date, size, blob_id, prefix, has_nul, `+metaCols+`)
			SELECT m.id, m.uid, m.highest_modseq, $3, $4, $5, $6, $7, $8, $9, $21, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20 FROM m
			RETURNING id)
		SELECT m.id, m.uidvalidity, m.uid, m.highest_modseq, ins.id FROM m, ins`,
		append(append([]any{accountID, mailbox, bits, keywords, internal.Unix(), saved.Unix(), size, blobID, nonNil(prefix)},
			metaArgs(meta)...), nul.Column())...,
	).Scan(&d.MailboxID, &d.UIDValidity, &d.UID, &modseq, &d.MessageID)
	if err != nil {
		return d, notFound(err, fmt.Sprintf("mailbox %s of account", mailbox), accountID)
	}
	if int64(d.UID) >= 1<<32-1 {
		return d, fmt.Errorf("%w: UID space of mailbox %d exhausted", store.ErrInvalid, d.MailboxID)
	}
	w.accounts[accountID].delta += size
	w.changes = append(w.changes, store.Change{AccountID: accountID, MailboxID: d.MailboxID, Kind: store.ChangeAdded,
		UIDs: []uint32{d.UID}, ModSeq: uint64(modseq)})
	return d, nil
}

// Messages implements store.Store.
func (s *Store) Messages(ctx context.Context, accountID, mailboxID int64, changedSince uint64) ([]store.Message, error) {
	var out []store.Message
	err := s.read(ctx, func(ctx context.Context, q querier) error {
		if err := checkMailbox(ctx, q, accountID, mailboxID); err != nil {
			return err
		}
		rows, err := q.Query(ctx, `SELECT id, uid, modseq, sysflags, keywords, internal_date, save_date, size, blob_id, has_nul
			FROM messages WHERE mailbox_id = $1 AND modseq > $2 ORDER BY uid`, mailboxID, int64(min(changedSince, 1<<63-1)))
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Message, error) {
			var m store.Message
			var bits int
			var kw string
			var idate, sdate int64
			var nul *bool
			err := r.Scan(&m.ID, &m.UID, &m.ModSeq, &bits, &kw, &idate, &sdate, &m.Size, &m.BlobID, &nul)
			m.MailboxID = mailboxID
			m.NUL = store.NULColumn(nul)
			m.Flags = store.JoinFlags(bits, splitKeywords(kw))
			m.InternalDate = time.Unix(idate, 0)
			m.SaveDate = time.Unix(sdate, 0)
			return m, err
		})
		return err
	})
	return out, err
}

// mailboxKeyword returns keyword k as a message of the mailbox has it, or
// "" (see store.KeywordCase). Keywords are ASCII: ILIKE folds them as
// RFC 9051 §2.3.2 does whatever the database's locale.
func (w *wtx) mailboxKeyword(mailboxID int64, k string) (string, error) {
	var kw string
	err := w.tx.QueryRow(w.ctx, `SELECT keywords FROM messages WHERE mailbox_id = $1 AND ' ' || keywords || ' ' ILIKE $2 LIMIT 1`,
		mailboxID, store.KeywordLike(k)).Scan(&kw)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	return store.FindKeyword(kw, k), nil
}

func splitKeywords(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, " ")
}

// metaCols are the columns of store.MessageMeta, in scanMeta's order.
const metaCols = `envelope, structure, hdr_subject, hdr_from, hdr_to, hdr_cc, hdr_bcc, hdr_messageid, hdr_date,
	hdr_inreplyto, hdr_references`

// metaArgs are the values of metaCols for m, in their order. Text columns
// cannot hold NUL nor octets that are no UTF-8, which a message's header
// fields may (raw 8-bit or NUL octets): those become U+FFFD (pgText).
func metaArgs(m *store.MessageMeta) []any {
	return []any{nonNil(m.Envelope), nonNil(m.Structure), pgText(m.Subject), pgText(m.From), pgText(m.To),
		pgText(m.Cc), pgText(m.Bcc), pgText(m.MessageID), unixOrZero(m.Date), pgText(m.InReplyTo),
		pgText(strings.Join(m.References, " "))}
}

// pgText makes s storable in a text column: NUL and every octet that is no
// part of valid UTF-8 become U+FFFD.
func pgText(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// scanMeta reads metaCols after the given leading destinations.
func scanMeta(row pgx.Row, m *store.MessageMeta, lead ...any) error {
	var date int64
	var refs string
	err := row.Scan(append(lead, &m.Envelope, &m.Structure, &m.Subject, &m.From, &m.To, &m.Cc, &m.Bcc, &m.MessageID, &date,
		&m.InReplyTo, &refs)...)
	if date != 0 {
		m.Date = time.Unix(date, 0)
	}
	if refs != "" {
		m.References = strings.Split(refs, " ")
	}
	return err
}

// MessageMetas implements store.Store.
func (s *Store) MessageMetas(ctx context.Context, accountID, mailboxID int64, uids []uint32) (map[uint32]store.MessageMeta, error) {
	var out map[uint32]store.MessageMeta
	err := s.read(ctx, func(ctx context.Context, q querier) error {
		out = make(map[uint32]store.MessageMeta, len(uids))
		if err := checkMailbox(ctx, q, accountID, mailboxID); err != nil {
			return err
		}
		rows, err := q.Query(ctx, `SELECT uid, `+metaCols+` FROM messages WHERE mailbox_id = $1 AND ($2 OR uid = ANY($3))`,
			mailboxID, uids == nil, uidsToInt64(uids))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var uid uint32
			var m store.MessageMeta
			if err := scanMeta(rows, &m, &uid); err != nil {
				return err
			}
			out[uid] = m
		}
		return rows.Err()
	})
	return out, err
}

// OpenMessage implements store.Store: one query finds the message and
// reads the body's first chunk (the whole body of most messages).
func (s *Store) OpenMessage(ctx context.Context, accountID, mailboxID int64, uid uint32) (store.MessageReader, error) {
	var r store.MessageReader
	err := s.read(ctx, func(ctx context.Context, q querier) error {
		var prefix, first []byte
		var blobID, size int64
		var chunk int32
		err := q.QueryRow(ctx, `SELECT msg.prefix, b.id, b.size, b.chunk_size, c.data
			FROM messages msg JOIN mailboxes m ON m.id = msg.mailbox_id JOIN blobs b ON b.id = msg.blob_id
			LEFT JOIN blob_chunks c ON c.blob_id = b.id AND c.n = 0
			WHERE m.account_id = $1 AND msg.mailbox_id = $2 AND msg.uid = $3`, accountID, mailboxID, int64(uid)).Scan(&prefix, &blobID, &size, &chunk, &first)
		if err != nil {
			return notFound(err, fmt.Sprintf("mailbox %d message", mailboxID), uid)
		}
		r = store.NewMessageReader(prefix, s.openBlob(blobID, size, chunk, first))
		return nil
	})
	return r, err
}

// StoreFlags implements store.Store. Changed messages share one new MODSEQ;
// messages whose flags would not change keep theirs. With unchangedSince >
// 0, messages with a greater MODSEQ are left alone and reported as
// conflicts (RFC 7162 §3.1.3).
func (s *Store) StoreFlags(ctx context.Context, accountID, mailboxID int64, uids []uint32, op store.FlagOp, flags []string, unchangedSince uint64) ([]store.FlagChange, error) {
	bits, kws, err := store.SplitFlags(flags)
	if err != nil {
		return nil, err
	}
	if len(uids) == 0 {
		return nil, nil
	}
	var out []store.FlagChange
	err = s.write(ctx, func(w *wtx) error {
		out = nil
		if err := w.lockAccounts(accountID); err != nil {
			return err
		}
		if err := checkMailbox(w.ctx, w.tx, accountID, mailboxID); err != nil {
			return err
		}
		type row struct {
			uid    uint32
			modseq uint64
			bits   int
			kw     string
		}
		rows, err := w.tx.Query(w.ctx, `SELECT uid, modseq, sysflags, keywords FROM messages
			WHERE mailbox_id = $1 AND uid = ANY($2) ORDER BY uid`, mailboxID, uidsToInt64(uids))
		if err != nil {
			return err
		}
		hits, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			err := r.Scan(&x.uid, &x.modseq, &x.bits, &x.kw)
			return x, err
		})
		if err != nil {
			return err
		}
		if op != store.FlagsRemove && len(kws) > 0 {
			var known []string
			for _, r := range hits {
				known = append(known, splitKeywords(r.kw)...)
			}
			if err := store.KeywordCase(kws, known, func(k string) (string, error) {
				return w.mailboxKeyword(mailboxID, k)
			}); err != nil {
				return err
			}
		}
		var changed []int64
		var newBits []int32
		var newKw []string
		var at []int // indexes in out of the changed messages
		for _, r := range hits {
			kw := splitKeywords(r.kw)
			if unchangedSince > 0 && r.modseq > unchangedSince {
				out = append(out, store.FlagChange{UID: r.uid, ModSeq: r.modseq, Flags: store.JoinFlags(r.bits, kw), Conflict: true})
				continue
			}
			nb, nk := store.ApplyFlags(op, r.bits, kw, bits, kws)
			if nb == r.bits && slices.Equal(nk, kw) {
				continue
			}
			if len(nk) > store.MaxKeywords {
				return store.ErrTooManyKeywords
			}
			at = append(at, len(out))
			out = append(out, store.FlagChange{UID: r.uid, Flags: store.JoinFlags(nb, nk)})
			changed = append(changed, int64(r.uid))
			newBits = append(newBits, int32(nb))
			newKw = append(newKw, strings.Join(nk, " "))
		}
		if len(changed) == 0 {
			return nil
		}
		modseq, err := w.nextModSeq(mailboxID)
		if err != nil {
			return err
		}
		if _, err := w.tx.Exec(w.ctx, `UPDATE messages m SET sysflags = u.bits, keywords = u.kw, modseq = $2
			FROM unnest($3::bigint[], $4::integer[], $5::text[]) AS u(uid, bits, kw)
			WHERE m.mailbox_id = $1 AND m.uid = u.uid`, mailboxID, modseq, changed, newBits, newKw); err != nil {
			return err
		}
		uidsChanged := make([]uint32, len(at))
		for i, j := range at {
			out[j].ModSeq = modseq
			uidsChanged[i] = out[j].UID
		}
		w.changes = append(w.changes, store.Change{AccountID: accountID, MailboxID: mailboxID, Kind: store.ChangeFlags, UIDs: uidsChanged, ModSeq: modseq})
		return nil
	})
	return out, err
}

// nextModSeq takes the mailbox's next MODSEQ (the row lock orders
// concurrent writers).
func (w *wtx) nextModSeq(mailboxID int64) (uint64, error) {
	var modseq uint64
	err := w.tx.QueryRow(w.ctx, `UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE id = $1 RETURNING highest_modseq`, mailboxID).Scan(&modseq)
	return modseq, notFound(err, "mailbox", mailboxID)
}

// Expunge implements store.Store.
func (s *Store) Expunge(ctx context.Context, accountID, mailboxID int64, uids []uint32) ([]store.Expunged, error) {
	return s.expungeWrite(ctx, accountID, mailboxID, expungeSel{uids: uids})
}

// ExpungeDeleted implements store.Store: the \Deleted flag is tested in the
// DELETE itself, under the account's lock.
func (s *Store) ExpungeDeleted(ctx context.Context, accountID, mailboxID int64, uids []uint32) ([]store.Expunged, error) {
	return s.expungeWrite(ctx, accountID, mailboxID, expungeSel{uids: uids, all: uids == nil, deletedOnly: true})
}

func (s *Store) expungeWrite(ctx context.Context, accountID, mailboxID int64, sel expungeSel) ([]store.Expunged, error) {
	var out []store.Expunged
	err := s.write(ctx, func(w *wtx) error {
		if err := w.lockAccounts(accountID); err != nil {
			return err
		}
		if err := checkMailbox(w.ctx, w.tx, accountID, mailboxID); err != nil {
			return err
		}
		var err error
		out, err = w.expunge(accountID, mailboxID, sel)
		return err
	})
	return out, err
}

// expungeSel says which messages expunge removes: those of uids, or all
// (all), keeping only those with \Deleted (deletedOnly).
type expungeSel struct {
	uids        []uint32
	all         bool
	deletedOnly bool
}

// expunge removes messages, remembers them for QRESYNC with one new MODSEQ,
// frees their size and drops their references to their blobs. The account
// is locked.
func (w *wtx) expunge(accountID, mailboxID int64, sel expungeSel) ([]store.Expunged, error) {
	if !sel.all && len(sel.uids) == 0 {
		return nil, nil
	}
	rows, err := w.tx.Query(w.ctx, `DELETE FROM messages WHERE mailbox_id = $1 AND ($2 OR uid = ANY($3)) AND (NOT $4 OR sysflags & $5 <> 0)
		RETURNING uid, blob_id, size`, mailboxID, sel.all, uidsToInt64(sel.uids), sel.deletedOnly, store.DeletedBit)
	if err != nil {
		return nil, err
	}
	type gone struct {
		uid        uint32
		blob, size int64
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (gone, error) {
		var g gone
		err := r.Scan(&g.uid, &g.blob, &g.size)
		return g, err
	})
	if err != nil || len(all) == 0 {
		return nil, err
	}
	slices.SortFunc(all, func(a, b gone) int { return int(int64(a.uid) - int64(b.uid)) })
	modseq, err := w.nextModSeq(mailboxID)
	if err != nil {
		return nil, err
	}
	out := make([]store.Expunged, len(all))
	uids := make([]uint32, len(all))
	var freed int64
	for i, g := range all {
		out[i] = store.Expunged{UID: g.uid, ModSeq: modseq}
		uids[i] = g.uid
		freed += g.size
		w.refBlob(g.blob, -1)
	}
	if _, err := w.tx.Exec(w.ctx, `INSERT INTO expunged (mailbox_id, uid, modseq) SELECT $1, u, $2 FROM unnest($3::bigint[]) AS u
		ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = excluded.modseq`, mailboxID, modseq, uidsToInt64(uids)); err != nil {
		return nil, err
	}
	if a, ok := w.accounts[accountID]; ok {
		a.delta -= freed
	}
	w.changes = append(w.changes, store.Change{AccountID: accountID, MailboxID: mailboxID, Kind: store.ChangeExpunged, UIDs: uids, ModSeq: modseq})
	return out, nil
}

// ExpungedSince implements store.Store.
func (s *Store) ExpungedSince(ctx context.Context, accountID, mailboxID int64, modseq uint64) ([]store.Expunged, error) {
	var out []store.Expunged
	err := s.read(ctx, func(ctx context.Context, q querier) error {
		if err := checkMailbox(ctx, q, accountID, mailboxID); err != nil {
			return err
		}
		rows, err := q.Query(ctx, `SELECT uid, modseq FROM expunged WHERE mailbox_id = $1 AND modseq > $2 ORDER BY uid`,
			mailboxID, int64(min(modseq, 1<<63-1)))
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Expunged, error) {
			var e store.Expunged
			err := r.Scan(&e.UID, &e.ModSeq)
			return e, err
		})
		return err
	})
	return out, err
}
