package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

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

// DeliverAll implements store.Store: one write, so all or none.
func (s *Store) DeliverAll(ctx context.Context, ds []*store.Delivery) ([][]store.Delivered, error) {
	prepared := make([]*store.PreparedDelivery, len(ds))
	for i, d := range ds {
		p, err := store.PrepareDelivery(d)
		if err != nil {
			return nil, err
		}
		prepared[i] = p
	}
	var out [][]store.Delivered
	err := s.writeBlobs(ctx, len(prepared), func(w *wtx) error {
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
	// The bodies are in place; their spool names can go.
	for _, d := range ds {
		d.Spool.Discard()
	}
	return out, nil
}

// deliver stores one delivery inside a write.
func (w *wtx) deliver(d *store.PreparedDelivery) ([]store.Delivered, error) {
	if r := d.Replaces; r != nil {
		// First, so that the quota counts the space it frees.
		if err := checkMailbox(w.ctx, w.tx, r.AccountID, r.MailboxID); err != nil {
			return nil, err
		}
		gone, err := w.expunge(r.AccountID, r.MailboxID, []uint32{r.UID})
		if err != nil {
			return nil, err
		}
		if len(gone) == 0 {
			return nil, fmt.Errorf("%w: message %d of mailbox %d", store.ErrNotFound, r.UID, r.MailboxID)
		}
	}
	out := make([]store.Delivered, len(d.Targets))
	now := time.Now()
	bodySize := d.Spool.Size()
	size := int64(len(d.Prefix)) + bodySize
	nul := store.NULOf(d.Prefix, d.Spool.HasNUL())
	// The ID is reserved under a committed intent (intents.go).
	blobID, err := w.newBlobID()
	if err != nil {
		return nil, err
	}
	if _, err := w.tx.ExecContext(w.ctx, `INSERT INTO blobs (id, size, created) VALUES (?, ?, ?)`, blobID, bodySize, now.Unix()); err != nil {
		return nil, err
	}
	if err := w.putBlob(d.Spool, blobID); err != nil {
		return nil, err
	}
	if d.Meta.HeadersText != "" || d.Meta.BodyText != "" {
		if _, err := w.tx.ExecContext(w.ctx, `INSERT INTO messages_fts (rowid, headers, body) VALUES (?, ?, ?)`,
			blobID, d.Meta.HeadersText, d.Meta.BodyText); err != nil {
			return nil, err
		}
	}
	for i, t := range d.Targets {
		mb, err := w.targetMailbox(t.AccountID, t.Mailbox, size)
		if err != nil {
			return nil, err
		}
		// RFC 9051 §2.3.2: a keyword the mailbox has keeps its case there.
		kw, err := store.KeywordListCase(t.Keywords, func(k string) (string, error) { return w.mailboxKeyword(mb.id, k) })
		if err != nil {
			return nil, err
		}
		msgID, err := w.insertMessage(mb, t.AccountID, size, blobID, t.Bits, kw, t.InternalDate, now, d.Prefix, nul, &d.Meta)
		if err != nil {
			return nil, err
		}
		out[i] = store.Delivered{MailboxID: mb.id, UIDValidity: mb.uidvalidity, UID: mb.uid, MessageID: msgID}
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

// slot is where the next message of a mailbox goes.
type slot struct {
	id          int64
	uidvalidity uint32
	uid         uint32
	modseq      uint64
}

// targetMailbox finds an account's mailbox by name and checks the quota
// for size more bytes.
func (w *wtx) targetMailbox(accountID int64, name string, size int64) (slot, error) {
	var mb slot
	var quota, used int64
	err := w.tx.QueryRowContext(w.ctx, `SELECT m.id, m.uidvalidity, m.uidnext, m.highest_modseq + 1, a.quota_bytes, a.used_bytes
		FROM mailboxes m JOIN accounts a ON a.id = m.account_id WHERE m.account_id = ? AND m.name = ?`,
		accountID, name).Scan(&mb.id, &mb.uidvalidity, &mb.uid, &mb.modseq, &quota, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return mb, fmt.Errorf("%w: mailbox %s of account %d", store.ErrNotFound, name, accountID)
	} else if err != nil {
		return mb, err
	}
	if !(store.Account{QuotaBytes: quota, UsedBytes: used}).Fits(size) {
		return mb, fmt.Errorf("%w: account %d", store.ErrQuota, accountID)
	}
	return mb, nil
}

// insertMessage adds a message at the mailbox's next UID, with a new
// MODSEQ, and announces it after the commit.
func (w *wtx) insertMessage(mb slot, accountID, size, blobID int64, bits int, keywords string, internal, saved time.Time, prefix []byte, nul store.NUL, meta *store.MessageMeta) (int64, error) {
	if mb.uid == 0 || uint64(mb.uid) >= 1<<32-1 {
		return 0, fmt.Errorf("%w: UID space of mailbox %d exhausted", store.ErrInvalid, mb.id)
	}
	res, err := w.tx.ExecContext(w.ctx, `INSERT INTO messages (mailbox_id, uid, modseq, sysflags, keywords,
		internal_date, save_date, size, blob_id, prefix, has_nul, `+metaCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		mb.id, mb.uid, mb.modseq, bits, keywords, internal.Unix(), saved.Unix(), size, blobID, nonNil(prefix), nul.Column(),
		nonNil(meta.Envelope), nonNil(meta.Structure), meta.Subject, meta.From, meta.To, meta.Cc, meta.Bcc, meta.MessageID,
		unixOrZero(meta.Date), meta.InReplyTo, strings.Join(meta.References, " "))
	if err != nil {
		return 0, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, err
	}
	if _, err := w.tx.ExecContext(w.ctx, `UPDATE mailboxes SET uidnext = ?, highest_modseq = ? WHERE id = ?`, mb.uid+1, mb.modseq, mb.id); err != nil {
		return 0, err
	}
	if _, err := w.tx.ExecContext(w.ctx, `UPDATE accounts SET used_bytes = used_bytes + ? WHERE id = ?`, size, accountID); err != nil {
		return 0, err
	}
	w.changes = append(w.changes, store.Change{AccountID: accountID, MailboxID: mb.id, Kind: store.ChangeAdded, UIDs: []uint32{mb.uid}, ModSeq: mb.modseq})
	return id, nil
}

// nonNil keeps NOT NULL BLOB columns non-NULL: an empty BLOB scans back
// as nil, which the driver would store as NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// checkMailbox makes sure the mailbox belongs to the account.
func checkMailbox(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, accountID, mailboxID int64) error {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM mailboxes WHERE id = ? AND account_id = ?`, mailboxID, accountID).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%w: mailbox %d", store.ErrNotFound, mailboxID)
	}
	return nil
}

// Messages implements store.Store.
func (s *Store) Messages(ctx context.Context, accountID, mailboxID int64, changedSince uint64) ([]store.Message, error) {
	if err := checkMailbox(ctx, s.rdb, accountID, mailboxID); err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, uid, modseq, sysflags, keywords, internal_date, save_date, size, blob_id, has_nul
		FROM messages WHERE mailbox_id = ? AND modseq > ? ORDER BY uid`, mailboxID, changedSince)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Message
	for rows.Next() {
		var m store.Message
		var bits int
		var kw string
		var idate, sdate int64
		var nul *bool
		if err := rows.Scan(&m.ID, &m.UID, &m.ModSeq, &bits, &kw, &idate, &sdate, &m.Size, &m.BlobID, &nul); err != nil {
			return nil, err
		}
		m.MailboxID = mailboxID
		m.NUL = store.NULColumn(nul)
		m.Flags = store.JoinFlags(bits, splitKeywords(kw))
		m.InternalDate = time.Unix(idate, 0)
		m.SaveDate = time.Unix(sdate, 0)
		out = append(out, m)
	}
	return out, rows.Err()
}

// mailboxKeyword returns keyword k as a message of the mailbox has it, or
// "" (see store.KeywordCase). LIKE is case-insensitive for ASCII, and
// keywords are ASCII.
func (w *wtx) mailboxKeyword(mailboxID int64, k string) (string, error) {
	var kw string
	err := w.tx.QueryRowContext(w.ctx, `SELECT keywords FROM messages WHERE mailbox_id = ? AND ' ' || keywords || ' ' LIKE ? ESCAPE '\' LIMIT 1`,
		mailboxID, store.KeywordLike(k)).Scan(&kw)
	if errors.Is(err, sql.ErrNoRows) {
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

// scanMeta reads metaCols after the given leading destinations.
func scanMeta(row rowScanner, m *store.MessageMeta, lead ...any) error {
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

// metaChunk bounds the UIDs of one MessageMetas query.
const metaChunk = 500

// MessageMetas implements store.Store.
func (s *Store) MessageMetas(ctx context.Context, accountID, mailboxID int64, uids []uint32) (map[uint32]store.MessageMeta, error) {
	if err := checkMailbox(ctx, s.rdb, accountID, mailboxID); err != nil {
		return nil, err
	}
	out := make(map[uint32]store.MessageMeta, len(uids))
	query := func(where string, args ...any) error {
		rows, err := s.rdb.QueryContext(ctx, `SELECT uid, `+metaCols+` FROM messages WHERE mailbox_id = ?`+where, append([]any{mailboxID}, args...)...)
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
	}
	if uids == nil {
		return out, query("")
	}
	for len(uids) > 0 {
		chunk := uids[:min(len(uids), metaChunk)]
		uids = uids[len(chunk):]
		args := make([]any, len(chunk))
		for i, u := range chunk {
			args[i] = u
		}
		if err := query(` AND uid IN (?`+strings.Repeat(`, ?`, len(chunk)-1)+`)`, args...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// OpenMessage implements store.Store.
func (s *Store) OpenMessage(ctx context.Context, accountID, mailboxID int64, uid uint32) (store.MessageReader, error) {
	var blobID int64
	var prefix []byte
	err := s.rdb.QueryRowContext(ctx, `SELECT msg.blob_id, msg.prefix FROM messages msg JOIN mailboxes m ON m.id = msg.mailbox_id
		WHERE m.account_id = ? AND msg.mailbox_id = ? AND msg.uid = ?`, accountID, mailboxID, uid).Scan(&blobID, &prefix)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: message %d in mailbox %d", store.ErrNotFound, uid, mailboxID)
	} else if err != nil {
		return nil, err
	}
	return s.openBlob(blobID, prefix)
}

func (s *Store) openBlob(blobID int64, prefix []byte) (store.MessageReader, error) {
	f, err := s.blobs.Open(blobID)
	if err != nil {
		// A message expunged meanwhile has lost its file too.
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: body %d", store.ErrNotFound, blobID)
		}
		return nil, err
	}
	return store.NewMessageReader(prefix, f), nil
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
	want := slices.Clone(uids)
	slices.Sort(want)
	want = slices.Compact(want)
	var out []store.FlagChange
	err = s.write(ctx, func(w *wtx) error {
		out = nil
		var highest uint64
		err := w.tx.QueryRowContext(w.ctx, `SELECT highest_modseq FROM mailboxes WHERE id = ? AND account_id = ?`, mailboxID, accountID).Scan(&highest)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: mailbox %d", store.ErrNotFound, mailboxID)
		} else if err != nil {
			return err
		}
		modseq := highest + 1
		rows, err := w.tx.QueryContext(w.ctx, `SELECT uid, modseq, sysflags, keywords FROM messages
			WHERE mailbox_id = ? AND uid BETWEEN ? AND ? ORDER BY uid`, mailboxID, want[0], want[len(want)-1])
		if err != nil {
			return err
		}
		type row struct {
			uid    uint32
			modseq uint64
			bits   int
			kw     []string
		}
		var hits []row
		for rows.Next() {
			var r row
			var kw string
			if err := rows.Scan(&r.uid, &r.modseq, &r.bits, &kw); err != nil {
				rows.Close()
				return err
			}
			if _, ok := slices.BinarySearch(want, r.uid); ok {
				r.kw = splitKeywords(kw)
				hits = append(hits, r)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if op != store.FlagsRemove && len(kws) > 0 {
			var known []string
			for _, r := range hits {
				known = append(known, r.kw...)
			}
			if err := store.KeywordCase(kws, known, func(k string) (string, error) {
				return w.mailboxKeyword(mailboxID, k)
			}); err != nil {
				return err
			}
		}
		var changed []uint32
		for _, r := range hits {
			if unchangedSince > 0 && r.modseq > unchangedSince {
				out = append(out, store.FlagChange{UID: r.uid, ModSeq: r.modseq, Flags: store.JoinFlags(r.bits, r.kw), Conflict: true})
				continue
			}
			nb, nk := store.ApplyFlags(op, r.bits, r.kw, bits, kws)
			if nb == r.bits && slices.Equal(nk, r.kw) {
				continue
			}
			if len(nk) > store.MaxKeywords {
				return store.ErrTooManyKeywords
			}
			if _, err := w.tx.ExecContext(w.ctx, `UPDATE messages SET sysflags = ?, keywords = ?, modseq = ? WHERE mailbox_id = ? AND uid = ?`,
				nb, strings.Join(nk, " "), modseq, mailboxID, r.uid); err != nil {
				return err
			}
			out = append(out, store.FlagChange{UID: r.uid, ModSeq: modseq, Flags: store.JoinFlags(nb, nk)})
			changed = append(changed, r.uid)
		}
		if len(changed) == 0 {
			return nil
		}
		if _, err := w.tx.ExecContext(w.ctx, `UPDATE mailboxes SET highest_modseq = ? WHERE id = ?`, modseq, mailboxID); err != nil {
			return err
		}
		w.changes = append(w.changes, store.Change{AccountID: accountID, MailboxID: mailboxID, Kind: store.ChangeFlags, UIDs: changed, ModSeq: modseq})
		return nil
	})
	return out, err
}

// Expunge implements store.Store.
func (s *Store) Expunge(ctx context.Context, accountID, mailboxID int64, uids []uint32) ([]store.Expunged, error) {
	var out []store.Expunged
	err := s.write(ctx, func(w *wtx) error {
		if err := checkMailbox(w.ctx, w.tx, accountID, mailboxID); err != nil {
			return err
		}
		var err error
		out, err = w.expunge(accountID, mailboxID, uids)
		return err
	})
	return out, err
}

// ExpungeDeleted implements store.Store.
func (s *Store) ExpungeDeleted(ctx context.Context, accountID, mailboxID int64, uids []uint32) ([]store.Expunged, error) {
	var want map[uint32]bool
	if uids != nil {
		want = make(map[uint32]bool, len(uids))
		for _, u := range uids {
			want[u] = true
		}
	}
	var out []store.Expunged
	err := s.write(ctx, func(w *wtx) error {
		if err := checkMailbox(w.ctx, w.tx, accountID, mailboxID); err != nil {
			return err
		}
		rows, err := w.tx.QueryContext(w.ctx, `SELECT uid FROM messages WHERE mailbox_id = ? AND sysflags & ? != 0 ORDER BY uid`,
			mailboxID, store.DeletedBit)
		if err != nil {
			return err
		}
		var gone []uint32
		for rows.Next() {
			var u uint32
			if err := rows.Scan(&u); err != nil {
				rows.Close()
				return err
			}
			if want == nil || want[u] {
				gone = append(gone, u)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		out, err = w.expunge(accountID, mailboxID, gone)
		return err
	})
	return out, err
}

// expunge removes messages, remembers them for QRESYNC with one new MODSEQ,
// and deletes blobs no longer used (their files go after the commit).
func (w *wtx) expunge(accountID, mailboxID int64, uids []uint32) ([]store.Expunged, error) {
	if len(uids) == 0 {
		return nil, nil
	}
	var modseq uint64
	if err := w.tx.QueryRowContext(w.ctx, `SELECT highest_modseq + 1 FROM mailboxes WHERE id = ?`, mailboxID).Scan(&modseq); err != nil {
		return nil, err
	}
	var out []store.Expunged
	blobs := map[int64]bool{}
	var freed int64
	for _, uid := range uids {
		var blobID, size int64
		err := w.tx.QueryRowContext(w.ctx, `DELETE FROM messages WHERE mailbox_id = ? AND uid = ? RETURNING blob_id, size`, mailboxID, uid).Scan(&blobID, &size)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		} else if err != nil {
			return nil, err
		}
		blobs[blobID] = true
		freed += size
		if _, err := w.tx.ExecContext(w.ctx, `INSERT INTO expunged (mailbox_id, uid, modseq) VALUES (?, ?, ?)
			ON CONFLICT DO UPDATE SET modseq = excluded.modseq`, mailboxID, uid, modseq); err != nil {
			return nil, err
		}
		out = append(out, store.Expunged{UID: uid, ModSeq: modseq})
	}
	if len(out) == 0 {
		return nil, nil
	}
	if _, err := w.tx.ExecContext(w.ctx, `UPDATE mailboxes SET highest_modseq = ? WHERE id = ?`, modseq, mailboxID); err != nil {
		return nil, err
	}
	if _, err := w.tx.ExecContext(w.ctx, `UPDATE accounts SET used_bytes = MAX(0, used_bytes - ?) WHERE id = ?`, freed, accountID); err != nil {
		return nil, err
	}
	for id := range blobs {
		if err := w.releaseBlob(id); err != nil {
			return nil, err
		}
	}
	gone := make([]uint32, len(out))
	for i, e := range out {
		gone[i] = e.UID
	}
	w.changes = append(w.changes, store.Change{AccountID: accountID, MailboxID: mailboxID, Kind: store.ChangeExpunged, UIDs: gone, ModSeq: modseq})
	return out, nil
}

// releaseBlob deletes a blob no message or queue entry uses any more.
func (w *wtx) releaseBlob(id int64) error {
	var used bool
	if err := w.tx.QueryRowContext(w.ctx, `SELECT EXISTS (SELECT 1 FROM messages WHERE blob_id = ?) OR EXISTS (SELECT 1 FROM queue WHERE blob_id = ?)`,
		id, id).Scan(&used); err != nil {
		return err
	}
	if used {
		return nil
	}
	if _, err := w.tx.ExecContext(w.ctx, `DELETE FROM blobs WHERE id = ?`, id); err != nil {
		return err
	}
	if _, err := w.tx.ExecContext(w.ctx, `DELETE FROM messages_fts WHERE rowid = ?`, id); err != nil {
		return err
	}
	if _, err := w.tx.ExecContext(w.ctx, `INSERT INTO blob_gc (blob_id) VALUES (?) ON CONFLICT DO NOTHING`, id); err != nil {
		return err
	}
	w.gc = append(w.gc, id)
	return nil
}

// ExpungedSince implements store.Store.
func (s *Store) ExpungedSince(ctx context.Context, accountID, mailboxID int64, modseq uint64) ([]store.Expunged, error) {
	if err := checkMailbox(ctx, s.rdb, accountID, mailboxID); err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT uid, modseq FROM expunged WHERE mailbox_id = ? AND modseq > ? ORDER BY uid`, mailboxID, modseq)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Expunged
	for rows.Next() {
		var e store.Expunged
		if err := rows.Scan(&e.UID, &e.ModSeq); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
