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

// Imports (store.Importer, postel store copy): another store's contents
// taken as they are, so that clients find nothing changed. Invariants kept
// beside the store's own:
//   - An imported mailbox's UIDNEXT stays above every UID it holds or
//     remembers as expunged, and its HIGHESTMODSEQ at or above every
//     MODSEQ: a delivery after the import continues above them.
//   - The account's uidvalidity_last is raised to the highest imported
//     UIDVALIDITY: the next mailbox created gets a greater one.
//   - used_bytes grows by the size of each imported message, in the
//     transaction that inserts it, as a delivery's does (without the
//     quota check).
//   - The queue's sequence is moved past every imported entry's ID.
//   - Imports announce nothing (no changes rows): they fill a database
//     that no node serves yet.
//   - Every method is one transaction and can be run again: what is there
//     already is returned or refused with ErrExists, never doubled.

var _ store.Importer = (*Store)(nil)

// ImportAccount implements store.Importer. The account's domain must be
// here (imported first).
func (s *Store) ImportAccount(ctx context.Context, a store.Account) (int64, error) {
	addr, err := store.CanonicalAddress(a.Address, false)
	if err != nil {
		return 0, err
	}
	if a.QuotaBytes < 0 || a.AuthEpoch < 0 {
		return 0, fmt.Errorf("%w: account %s: quota %d, auth epoch %d", store.ErrInvalid, addr, a.QuotaBytes, a.AuthEpoch)
	}
	created := a.Created
	if created.IsZero() {
		created = time.Now()
	}
	domain := store.DomainOf(addr)
	var id int64
	err = s.write(ctx, func(w *wtx) error {
		var ok bool
		if err := w.tx.QueryRow(w.ctx, `SELECT EXISTS (SELECT 1 FROM domains WHERE name = $1 FOR KEY SHARE)`, domain).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: domain %s is not a local domain", store.ErrNotFound, domain)
		}
		err := w.tx.QueryRow(w.ctx, `INSERT INTO accounts (address, domain, password_hash, scram_sha256, quota_bytes, disabled, auth_epoch, created)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (address) DO NOTHING RETURNING id`,
			addr, domain, a.Credentials.PasswordHash, a.Credentials.SCRAMSHA256, a.QuotaBytes, a.Disabled, a.AuthEpoch,
			created.Unix()).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			// There already: returned as it is.
			err = w.tx.QueryRow(w.ctx, `SELECT id FROM accounts WHERE address = $1`, addr).Scan(&id)
		}
		return err
	})
	return id, err
}

// ImportMailbox implements store.Importer. A mailbox already there with the
// same UIDVALIDITY gets its UIDNEXT, HIGHESTMODSEQ and recent boundary
// raised to mb's when they are lower (never lowered), so a copy run again after the source
// grew still continues above it.
func (s *Store) ImportMailbox(ctx context.Context, accountID int64, mb store.Mailbox) (int64, error) {
	name, err := store.CanonicalMailbox(mb.Name)
	if err != nil {
		return 0, err
	}
	if !validRole(mb.SpecialUse) {
		return 0, fmt.Errorf("%w: special-use %q", store.ErrInvalid, mb.SpecialUse)
	}
	if mb.UIDValidity == 0 {
		return 0, fmt.Errorf("%w: mailbox %s without UIDVALIDITY", store.ErrInvalid, name)
	}
	uidnext, modseq := max(int64(mb.UIDNext), 1), int64(max(mb.HighestModSeq, 1))
	if mb.HighestModSeq > 1<<63-1 {
		return 0, fmt.Errorf("%w: mailbox %s: HIGHESTMODSEQ %d", store.ErrInvalid, name, mb.HighestModSeq)
	}
	var id int64
	err = s.write(ctx, func(w *wtx) error {
		if err := w.lockAccounts(accountID); err != nil {
			return err
		}
		if _, err := w.account(accountID); err != nil {
			return err
		}
		var have int64
		err := w.tx.QueryRow(w.ctx, `SELECT id, uidvalidity FROM mailboxes WHERE account_id = $1 AND name = $2`, accountID, name).Scan(&id, &have)
		switch {
		case err == nil && have != int64(mb.UIDValidity):
			return fmt.Errorf("%w: mailbox %s of account %d has UIDVALIDITY %d here, not %d", store.ErrExists, name, accountID, have, mb.UIDValidity)
		case err == nil:
			_, err = w.tx.Exec(w.ctx, `UPDATE mailboxes SET uidnext = GREATEST(uidnext, $2), highest_modseq = GREATEST(highest_modseq, $3),
				recent_uid = GREATEST(recent_uid, LEAST($4::bigint, GREATEST(uidnext, $2::bigint) - 1)) WHERE id = $1`, id, uidnext, modseq, int64(mb.RecentUID))
			if err == nil && mb.Subscribed {
				_, err = w.subscribe(accountID, name)
			}
			return err
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		if err := w.tx.QueryRow(w.ctx, `INSERT INTO mailboxes (account_id, name, uidvalidity, uidnext, highest_modseq, special_use, recent_uid)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
			accountID, name, int64(mb.UIDValidity), uidnext, modseq, mb.SpecialUse, min(int64(mb.RecentUID), uidnext-1)).Scan(&id); err != nil {
			return err
		}
		if mb.Subscribed {
			if _, err := w.subscribe(accountID, name); err != nil {
				return err
			}
		}
		_, err = w.tx.Exec(w.ctx, `UPDATE accounts SET uidvalidity_last = GREATEST(uidvalidity_last, $2) WHERE id = $1`,
			accountID, int64(mb.UIDValidity))
		return err
	})
	return id, err
}

// ImportMessage implements store.Importer: one blob for the body of d (its
// searchable text with it, as Deliver stores it), one message row with m's
// UID, MODSEQ, flags and dates. m.Size, when set, must be the size served
// (prefix and body of d): anything else is ErrInvalid. The spool is
// discarded once its body is in the database.
func (s *Store) ImportMessage(ctx context.Context, accountID, mailboxID int64, m store.Message, d *store.Delivery) error {
	return s.ImportMessages(ctx, accountID, mailboxID, []store.Message{m}, []*store.Delivery{d})
}

// ImportMessages is ImportMessage for many messages of one mailbox in one
// transaction, all or none (beside store.Importer, for postel store copy:
// one commit for a batch instead of one per message). It is ErrExists
// when any of the UIDs is there already.
func (s *Store) ImportMessages(ctx context.Context, accountID, mailboxID int64, ms []store.Message, ds []*store.Delivery) error {
	if len(ms) != len(ds) {
		return fmt.Errorf("%w: %d messages, %d bodies", store.ErrInvalid, len(ms), len(ds))
	}
	if len(ms) == 0 {
		return nil
	}
	rows := make([]importRow, len(ms))
	uids := make([]int64, len(ms))
	for i, m := range ms {
		r, err := newImportRow(m, ds[i])
		if err != nil {
			return err
		}
		rows[i], uids[i] = r, int64(m.UID)
	}
	err := s.write(ctx, func(w *wtx) error {
		if err := w.lockAccounts(accountID); err != nil {
			return err
		}
		a, err := w.account(accountID)
		if err != nil {
			return err
		}
		if err := checkMailbox(w.ctx, w.tx, accountID, mailboxID); err != nil {
			return err
		}
		var taken []int64
		rs, err := w.tx.Query(w.ctx, `SELECT uid FROM messages WHERE mailbox_id = $1 AND uid = ANY($2) ORDER BY uid`, mailboxID, uids)
		if err != nil {
			return err
		}
		if taken, err = pgx.CollectRows(rs, pgx.RowTo[int64]); err != nil {
			return err
		}
		if len(taken) > 0 {
			return fmt.Errorf("%w: message UIDs %v in mailbox %d", store.ErrExists, taken, mailboxID)
		}
		for _, r := range rows {
			size, err := w.importMessage(mailboxID, r)
			if err != nil {
				return err
			}
			a.delta += size
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, d := range ds {
		d.Spool.Discard()
	}
	return nil
}

// importRow is one checked message of ImportMessages.
type importRow struct {
	m               store.Message
	d               *store.Delivery
	bits            int
	keywords        string
	internal, saved time.Time
}

func newImportRow(m store.Message, d *store.Delivery) (importRow, error) {
	if d == nil || d.Spool == nil {
		return importRow{}, fmt.Errorf("%w: import without a body", store.ErrInvalid)
	}
	if m.UID == 0 || m.UID == 1<<32-1 || m.ModSeq == 0 || m.ModSeq > 1<<63-1 {
		return importRow{}, fmt.Errorf("%w: message UID %d, MODSEQ %d", store.ErrInvalid, m.UID, m.ModSeq)
	}
	bits, kw, err := store.SplitFlags(m.Flags)
	if err != nil {
		return importRow{}, err
	}
	r := importRow{m: m, d: d, bits: bits, keywords: strings.Join(kw, " "), internal: m.InternalDate, saved: m.SaveDate}
	if r.internal.IsZero() {
		r.internal = time.Now()
	}
	if r.saved.IsZero() {
		r.saved = r.internal
	}
	return r, nil
}

// importMessage inserts one message, its blob and its text, and keeps its
// mailbox's UIDNEXT and HIGHESTMODSEQ above it; it returns the size
// served. The account is locked.
func (w *wtx) importMessage(mailboxID int64, r importRow) (int64, error) {
	meta := &r.d.Meta
	blobID, bodySize, err := w.insertBlob(r.d.Spool, 1, meta)
	if err != nil {
		return 0, err
	}
	size := int64(len(r.d.Prefix)) + bodySize
	if r.m.Size != 0 && r.m.Size != size {
		return 0, fmt.Errorf("%w: message UID %d is %d bytes, its body and prefix %d", store.ErrInvalid, r.m.UID, r.m.Size, size)
	}
	tag, err := w.tx.Exec(w.ctx, `WITH ins AS (INSERT INTO messages (mailbox_id, uid, modseq, sysflags, keywords, internal_date,
			save_date, size, blob_id, prefix, has_nul, `+metaCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $22, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
		RETURNING uid, modseq)
		UPDATE mailboxes SET uidnext = GREATEST(uidnext, ins.uid + 1), highest_modseq = GREATEST(highest_modseq, ins.modseq)
		FROM ins WHERE id = $1`,
		append(append([]any{mailboxID, int64(r.m.UID), int64(r.m.ModSeq), r.bits, r.keywords, r.internal.Unix(), r.saved.Unix(), size, blobID,
			nonNil(r.d.Prefix)}, metaArgs(meta)...), store.NULOf(r.d.Prefix, r.d.Spool.HasNUL()).Column())...)
	if err != nil {
		return 0, err
	}
	if tag.RowsAffected() != 1 {
		return 0, fmt.Errorf("postgres: import of UID %d: mailbox %d not updated", r.m.UID, mailboxID)
	}
	return size, nil
}

// ImportExpunged implements store.Importer. The mailbox's UIDNEXT and
// HIGHESTMODSEQ are raised above the removals when they are not already.
func (s *Store) ImportExpunged(ctx context.Context, accountID, mailboxID int64, gone []store.Expunged) error {
	if len(gone) == 0 {
		return nil
	}
	uids := make([]int64, len(gone))
	modseqs := make([]int64, len(gone))
	var maxUID, maxModSeq int64
	for i, e := range gone {
		if e.UID == 0 || e.UID == 1<<32-1 || e.ModSeq == 0 || e.ModSeq > 1<<63-1 {
			return fmt.Errorf("%w: expunged UID %d, MODSEQ %d", store.ErrInvalid, e.UID, e.ModSeq)
		}
		uids[i], modseqs[i] = int64(e.UID), int64(e.ModSeq)
		maxUID, maxModSeq = max(maxUID, uids[i]), max(maxModSeq, modseqs[i])
	}
	return s.write(ctx, func(w *wtx) error {
		if err := w.lockAccounts(accountID); err != nil {
			return err
		}
		if err := checkMailbox(w.ctx, w.tx, accountID, mailboxID); err != nil {
			return err
		}
		if _, err := w.tx.Exec(w.ctx, `INSERT INTO expunged (mailbox_id, uid, modseq)
			SELECT $1, u, q FROM unnest($2::bigint[], $3::bigint[]) AS e(u, q) ON CONFLICT (mailbox_id, uid) DO NOTHING`,
			mailboxID, uids, modseqs); err != nil {
			return err
		}
		_, err := w.tx.Exec(w.ctx, `UPDATE mailboxes SET uidnext = GREATEST(uidnext, $2), highest_modseq = GREATEST(highest_modseq, $3)
			WHERE id = $1`, mailboxID, maxUID+1, maxModSeq)
		return err
	})
}

// ImportQueueEntry implements store.Importer: the entry keeps its ID, its
// times, attempts and lease, and each recipient its DSN parameters, state,
// attempts and last reply. The per-account count of sent mail (SentToday)
// is not part of an entry and starts afresh.
func (s *Store) ImportQueueEntry(ctx context.Context, e store.QueueEntry, spool store.Spool) error {
	if e.ID <= 0 || spool == nil || len(e.Recipients) == 0 {
		return fmt.Errorf("%w: queue entry %d: an ID, a body and recipients are needed", store.ErrInvalid, e.ID)
	}
	n := len(e.Recipients)
	addrs, notify, orcpt := make([]string, n), make([]string, n), make([]string, n)
	status, replies := make([]string, n), make([]string, n)
	attempts, changed := make([]int32, n), make([]int64, n)
	for i, r := range e.Recipients {
		switch r.Status {
		case "":
			r.Status = "pending"
		case "pending", "delivered", "failed":
		default:
			return fmt.Errorf("%w: recipient status %q", store.ErrInvalid, r.Status)
		}
		addrs[i], notify[i], orcpt[i] = r.Address, strings.Join(r.Notify, ","), r.ORcpt
		status[i], replies[i], attempts[i], changed[i] = r.Status, r.LastReply, int32(r.Attempts), unixOrZero(r.LastChange)
	}
	if sorted := slices.Sorted(slices.Values(addrs)); len(slices.Compact(sorted)) != n {
		return fmt.Errorf("%w: queue entry %d names a recipient twice", store.ErrInvalid, e.ID)
	}
	created, next := e.Created, e.NextAttempt
	if created.IsZero() {
		created = time.Now()
	}
	if next.IsZero() {
		next = created
	}
	err := s.write(ctx, func(w *wtx) error {
		var taken bool
		if err := w.tx.QueryRow(w.ctx, `SELECT EXISTS (SELECT 1 FROM queue WHERE id = $1)`, e.ID).Scan(&taken); err != nil {
			return err
		}
		if taken {
			return fmt.Errorf("%w: queue entry %d", store.ErrExists, e.ID)
		}
		blobID, bodySize, err := w.insertBlob(spool, 1, &store.MessageMeta{})
		if err != nil {
			return err
		}
		size := int64(len(e.Prefix)) + bodySize
		if e.Size != 0 && e.Size != size {
			return fmt.Errorf("%w: queue entry %d is %d bytes, its body and prefix %d", store.ErrInvalid, e.ID, e.Size, size)
		}
		if _, err := w.tx.Exec(w.ctx, `INSERT INTO queue (id, account_id, mail_from, blob_id, prefix, size, dsn_ret, dsn_envid,
				requiretls, smtputf8, body8bit, created, next_attempt, attempts, lease_owner, lease_until)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
			e.ID, e.AccountID, e.From, blobID, nonNil(e.Prefix), size, e.DSNRet, e.DSNEnvID, e.RequireTLS, e.SMTPUTF8, e.Body8Bit,
			created.Unix(), next.Unix(), e.Attempts, e.LeaseOwner, unixOrZero(e.LeaseUntil)); err != nil {
			return err
		}
		if _, err := w.tx.Exec(w.ctx, `INSERT INTO queue_rcpts (queue_id, address, notify, orcpt, status, attempts, last_reply, last_change)
			SELECT $1, a, n, o, s, t, r, c
			FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::integer[], $7::text[], $8::bigint[]) AS x(a, n, o, s, t, r, c)`,
			e.ID, addrs, notify, orcpt, status, attempts, replies, changed); err != nil {
			return err
		}
		// New entries get IDs above the imported ones. setval is not undone
		// by a rollback: at worst some IDs are skipped.
		_, err = w.tx.Exec(w.ctx, `SELECT setval('queue_id_seq', GREATEST($1, (SELECT last_value FROM queue_id_seq)))`, e.ID)
		return err
	})
	if err != nil {
		return err
	}
	spool.Discard()
	return nil
}

// ImportJunkRule stores a junk rule of the account with its creation time
// (beside store.Importer, for postel store copy): a rule already there for
// the pattern, of the same kind, is left as it is; of the other kind it is
// ErrExists. Like AddJunkRule, ErrQuota past store.MaxJunkRules.
func (s *Store) ImportJunkRule(ctx context.Context, accountID int64, r store.JunkRule) error {
	if r.Kind != store.JunkAllow && r.Kind != store.JunkBlock {
		return fmt.Errorf("%w: junk rule kind %q", store.ErrInvalid, r.Kind)
	}
	p, err := store.CanonicalJunkPattern(r.Pattern)
	if err != nil {
		return err
	}
	created := r.Created
	if created.IsZero() {
		created = time.Now()
	}
	return s.write(ctx, func(w *wtx) error {
		if err := w.lockAccounts(accountID); err != nil {
			return err
		}
		if _, err := w.account(accountID); err != nil {
			return err
		}
		var have string
		err := w.tx.QueryRow(w.ctx, `SELECT kind FROM junk_rules WHERE account_id = $1 AND pattern = $2`, accountID, p).Scan(&have)
		switch {
		case err == nil && have == r.Kind:
			return nil
		case err == nil:
			return fmt.Errorf("%w: %s is already on the %s list", store.ErrExists, p, have)
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		var n int
		if err := w.tx.QueryRow(w.ctx, `SELECT COUNT(*) FROM junk_rules WHERE account_id = $1`, accountID).Scan(&n); err != nil {
			return err
		}
		if n >= store.MaxJunkRules {
			return fmt.Errorf("%w: an account has at most %d junk rules", store.ErrQuota, store.MaxJunkRules)
		}
		_, err = w.tx.Exec(w.ctx, `INSERT INTO junk_rules (account_id, pattern, kind, created) VALUES ($1, $2, $3, $4)`,
			accountID, p, r.Kind, created.Unix())
		return err
	})
}

// ImportReputation sets what the account's user taught about a sender to
// r as it is (counts, latest mark, time of the latest mark), replacing
// what is there (beside store.Importer, for postel store copy). No sender
// is forgotten: the source kept at most store.MaxReputations.
func (s *Store) ImportReputation(ctx context.Context, accountID int64, r store.SenderReputation) error {
	addr, err := store.CanonicalSender(r.Sender)
	if err != nil {
		return err
	}
	if (r.Last != store.MarkSpam && r.Last != store.MarkHam) || r.Spam < 0 || r.Ham < 0 {
		return fmt.Errorf("%w: reputation of %s: %d spam, %d ham, last %q", store.ErrInvalid, addr, r.Spam, r.Ham, r.Last)
	}
	updated := r.Updated
	if updated.IsZero() {
		updated = time.Now()
	}
	return s.write(ctx, func(w *wtx) error {
		if err := w.lockAccounts(accountID); err != nil {
			return err
		}
		if _, err := w.account(accountID); err != nil {
			return err
		}
		_, err := w.tx.Exec(w.ctx, `INSERT INTO junk_reputation (account_id, sender, spam, ham, last, updated)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (account_id, sender) DO UPDATE SET spam = excluded.spam, ham = excluded.ham, last = excluded.last,
				updated = excluded.updated`,
			accountID, addr, r.Spam, r.Ham, r.Last, updated.UnixNano())
		return err
	})
}
