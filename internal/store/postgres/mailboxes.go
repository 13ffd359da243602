package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"postel/internal/store"
)

// createMailbox inserts a mailbox with a fresh UIDVALIDITY: greater than any
// the account had before, so a mailbox deleted and created again under the
// same name never repeats one (RFC 9051 §2.3.1.1). The account is locked.
func (w *wtx) createMailbox(accountID int64, name, role string) (int64, error) {
	if _, err := w.account(accountID); err != nil {
		return 0, err
	}
	var n int
	var last int64
	if err := w.tx.QueryRow(w.ctx, `SELECT (SELECT COUNT(*) FROM mailboxes WHERE account_id = $1), uidvalidity_last FROM accounts WHERE id = $1`,
		accountID).Scan(&n, &last); err != nil {
		return 0, err
	}
	if n >= store.MaxMailboxes {
		return 0, fmt.Errorf("%w: %d mailboxes", store.ErrQuota, n)
	}
	uv := max(time.Now().Unix(), last+1)
	if uv > 1<<32-1 {
		return 0, fmt.Errorf("postgres: UIDVALIDITY space exhausted for account %d", accountID)
	}
	var id int64
	err := w.tx.QueryRow(w.ctx, `INSERT INTO mailboxes (account_id, name, uidvalidity, special_use)
		VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING id`, accountID, name, uv, role).Scan(&id)
	if err != nil {
		if err == pgx.ErrNoRows {
			return 0, fmt.Errorf("%w: mailbox %s", store.ErrExists, name)
		}
		return 0, err
	}
	if _, err := w.tx.Exec(w.ctx, `UPDATE accounts SET uidvalidity_last = $2 WHERE id = $1`, accountID, uv); err != nil {
		return 0, err
	}
	w.changes = append(w.changes, store.Change{AccountID: accountID, MailboxID: id, Kind: store.ChangeMailbox})
	return id, nil
}

func validRole(role string) bool {
	switch role {
	case store.RoleNone, store.RoleSent, store.RoleDrafts, store.RoleTrash, store.RoleJunk, store.RoleArchive, `\All`, `\Flagged`:
		return true
	}
	return false
}

// CreateMailbox implements store.Store.
func (s *Store) CreateMailbox(ctx context.Context, accountID int64, name, specialUse string) (store.Mailbox, error) {
	name, err := store.CanonicalMailbox(name)
	if err != nil {
		return store.Mailbox{}, err
	}
	if !validRole(specialUse) {
		return store.Mailbox{}, fmt.Errorf("%w: special-use %q", store.ErrInvalid, specialUse)
	}
	err = s.write(ctx, func(w *wtx) error {
		if err := w.lockAccounts(accountID); err != nil {
			return err
		}
		_, err := w.createMailbox(accountID, name, specialUse)
		return err
	})
	if err != nil {
		return store.Mailbox{}, err
	}
	return s.Mailbox(ctx, accountID, name)
}

// RenameMailbox implements store.Store. Children move along ("a/b" becomes
// "c/b" when "a" becomes "c"); UIDVALIDITY stays. INBOX cannot be renamed
// here: IMAP's RENAME INBOX moves its messages instead (RFC 9051 §6.3.6).
func (s *Store) RenameMailbox(ctx context.Context, accountID int64, from, to string) error {
	from, err := store.CanonicalMailbox(from)
	if err != nil {
		return err
	}
	if to, err = store.CanonicalMailbox(to); err != nil {
		return err
	}
	if from == "INBOX" || to == "INBOX" || strings.HasPrefix(to, from+"/") {
		return fmt.Errorf("%w: cannot rename %s to %s", store.ErrInvalid, from, to)
	}
	return s.write(ctx, func(w *wtx) error {
		if err := w.lockAccounts(accountID); err != nil {
			return err
		}
		id, err := w.mailboxID(accountID, from)
		if err != nil {
			return err
		}
		var taken bool
		if err := w.tx.QueryRow(w.ctx, `SELECT EXISTS (SELECT 1 FROM mailboxes WHERE account_id = $1 AND (name = $2 OR starts_with(name, $2 || '/')))`,
			accountID, to).Scan(&taken); err != nil {
			return err
		}
		if taken {
			return fmt.Errorf("%w: mailbox %s", store.ErrExists, to)
		}
		rows, err := w.tx.Query(w.ctx, `UPDATE mailboxes SET name = $4 || substr(name, length($3) + 1)
			WHERE account_id = $1 AND (id = $2 OR starts_with(name, $3 || '/')) RETURNING id`, accountID, id, from, to)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		sortInt64s(ids)
		for _, m := range ids {
			w.changes = append(w.changes, store.Change{AccountID: accountID, MailboxID: m, Kind: store.ChangeMailbox})
		}
		return nil
	})
}

// DeleteMailbox implements store.Store. Only the named mailbox goes, with
// its messages; children stay. INBOX cannot be deleted (RFC 9051 §6.3.5).
func (s *Store) DeleteMailbox(ctx context.Context, accountID int64, name string) error {
	name, err := store.CanonicalMailbox(name)
	if err != nil {
		return err
	}
	if name == "INBOX" {
		return fmt.Errorf("%w: INBOX cannot be deleted", store.ErrInvalid)
	}
	return s.write(ctx, func(w *wtx) error {
		if err := w.lockAccounts(accountID); err != nil {
			return err
		}
		id, err := w.mailboxID(accountID, name)
		if err != nil {
			return err
		}
		return w.deleteMailbox(accountID, id)
	})
}

// deleteMailbox removes a mailbox, its messages, its expunge history and
// its access control list.
// The account is locked.
func (w *wtx) deleteMailbox(accountID, id int64) error {
	if _, err := w.expunge(accountID, id, expungeSel{all: true}); err != nil {
		return err
	}
	// By the whole primary key prefix (account, mailbox): not a scan.
	if _, err := w.tx.Exec(w.ctx, `DELETE FROM metadata WHERE account_id = $1 AND mailbox_id = $2`, accountID, id); err != nil {
		return err
	}
	for _, q := range []string{`DELETE FROM expunged WHERE mailbox_id = $1`, `DELETE FROM acl WHERE mailbox_id = $1`, `DELETE FROM mailboxes WHERE id = $1`} {
		if _, err := w.tx.Exec(w.ctx, q, id); err != nil {
			return err
		}
	}
	w.changes = append(w.changes, store.Change{AccountID: accountID, MailboxID: id, Kind: store.ChangeMailbox})
	return nil
}

// mailboxID finds a mailbox of the account by canonical name.
func (w *wtx) mailboxID(accountID int64, name string) (int64, error) {
	var id int64
	err := w.tx.QueryRow(w.ctx, `SELECT id FROM mailboxes WHERE account_id = $1 AND name = $2`, accountID, name).Scan(&id)
	return id, notFound(err, "mailbox", name)
}

// checkMailbox makes sure the mailbox belongs to the account.
func checkMailbox(ctx context.Context, q querier, accountID, mailboxID int64) error {
	var ok bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM mailboxes WHERE id = $1 AND account_id = $2)`, mailboxID, accountID).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: mailbox %d", store.ErrNotFound, mailboxID)
	}
	return nil
}

// mailboxes reads mailbox rows with their counts, in one query (bit 1 of
// sysflags is \Seen, bit 8 \Deleted: store.SeenBit, store.DeletedBit).
func (s *Store) mailboxes(ctx context.Context, where string, args ...any) ([]store.Mailbox, error) {
	var out []store.Mailbox
	err := s.read(ctx, func(ctx context.Context, q querier) error {
		rows, err := q.Query(ctx, `SELECT m.id, m.account_id, m.name, m.uidvalidity, m.uidnext, m.highest_modseq, m.special_use,
				EXISTS (SELECT 1 FROM subscriptions s WHERE s.account_id = m.account_id AND s.name = m.name), m.recent_uid,
				COUNT(msg.id), COUNT(msg.id) FILTER (WHERE msg.sysflags & $1 = 0), COUNT(msg.id) FILTER (WHERE msg.sysflags & $2 <> 0),
				COALESCE(SUM(msg.size), 0), COUNT(msg.id) FILTER (WHERE msg.uid > m.recent_uid),
				COALESCE(SUM(msg.size) FILTER (WHERE msg.sysflags & $2 <> 0), 0)
			FROM mailboxes m LEFT JOIN messages msg ON msg.mailbox_id = m.id
			`+where+` GROUP BY m.id ORDER BY m.name COLLATE "C"`, append([]any{store.SeenBit, store.DeletedBit}, args...)...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Mailbox, error) {
			var m store.Mailbox
			err := r.Scan(&m.ID, &m.AccountID, &m.Name, &m.UIDValidity, &m.UIDNext, &m.HighestModSeq, &m.SpecialUse, &m.Subscribed, &m.RecentUID,
				&m.Messages, &m.Unseen, &m.Deleted, &m.Size, &m.Recent, &m.DeletedSize)
			return m, err
		})
		return err
	})
	return out, err
}

// Mailbox implements store.Store.
func (s *Store) Mailbox(ctx context.Context, accountID int64, name string) (store.Mailbox, error) {
	name, err := store.CanonicalMailbox(name)
	if err != nil {
		return store.Mailbox{}, err
	}
	all, err := s.mailboxes(ctx, `WHERE m.account_id = $3 AND m.name = $4`, accountID, name)
	if err != nil {
		return store.Mailbox{}, err
	}
	if len(all) == 0 {
		return store.Mailbox{}, fmt.Errorf("%w: mailbox %s", store.ErrNotFound, name)
	}
	return all[0], nil
}

// ListMailboxes implements store.Store.
func (s *Store) ListMailboxes(ctx context.Context, accountID int64) ([]store.Mailbox, error) {
	return s.mailboxes(ctx, `WHERE m.account_id = $3`, accountID)
}

// SetSubscribed implements store.Store.
func (s *Store) SetSubscribed(ctx context.Context, accountID int64, name string, on bool) error {
	name, err := store.CanonicalMailbox(name)
	if err != nil {
		return err
	}
	return s.write(ctx, func(w *wtx) error {
		var changed bool
		if !on {
			tag, err := w.tx.Exec(w.ctx, `DELETE FROM subscriptions WHERE account_id = $1 AND name = $2`, accountID, name)
			if err != nil {
				return err
			}
			changed = tag.RowsAffected() > 0
		} else {
			// The account locked (as DeleteAccount locks it): two nodes
			// take turns, and cannot both pass MaxSubscriptions.
			if err := w.lockAccounts(accountID); err != nil {
				return err
			}
			if _, err := w.account(accountID); err != nil {
				return err
			}
			if changed, err = w.subscribe(accountID, name); err != nil {
				return err
			}
		}
		if changed {
			// Announced for NOTIFY's SubscriptionChange (RFC 5465): the
			// mailbox of that name, 0 when the name is none.
			var id int64
			if err := w.tx.QueryRow(w.ctx, `SELECT id FROM mailboxes WHERE account_id = $1 AND name = $2`, accountID, name).Scan(&id); err != nil && err != pgx.ErrNoRows {
				return err
			}
			w.changes = append(w.changes, store.Change{AccountID: accountID, MailboxID: id, Kind: store.ChangeSubscription})
		}
		return nil
	})
}

// subscribe adds name to the account's subscriptions, within
// MaxSubscriptions; added reports whether it was not there.
func (w *wtx) subscribe(accountID int64, name string) (added bool, err error) {
	var n int
	if err := w.tx.QueryRow(w.ctx, `SELECT COUNT(*) FROM subscriptions WHERE account_id = $1`, accountID).Scan(&n); err != nil {
		return false, err
	}
	if n >= store.MaxSubscriptions {
		return false, fmt.Errorf("%w: %d subscriptions", store.ErrQuota, n)
	}
	tag, err := w.tx.Exec(w.ctx, `INSERT INTO subscriptions (account_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING`, accountID, name)
	return err == nil && tag.RowsAffected() > 0, err
}

// Subscriptions implements store.Store.
func (s *Store) Subscriptions(ctx context.Context, accountID int64) ([]string, error) {
	var out []string
	err := s.read(ctx, func(ctx context.Context, q querier) error {
		rows, err := q.Query(ctx, `SELECT name FROM subscriptions WHERE account_id = $1 ORDER BY name COLLATE "C"`, accountID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return out, err
}

// ClaimRecent implements store.Store. The mailbox's row lock orders the
// claims of every node: each moves the boundary from where the one before
// left it, so no UID is claimed twice.
func (s *Store) ClaimRecent(ctx context.Context, accountID, mailboxID int64, upto uint32) (uint32, error) {
	var from, next int64
	err := s.read(ctx, func(ctx context.Context, q querier) error {
		err := q.QueryRow(ctx, `SELECT recent_uid, uidnext FROM mailboxes WHERE id = $1 AND account_id = $2`, mailboxID, accountID).Scan(&from, &next)
		return notFound(err, "mailbox", mailboxID)
	})
	if err != nil || min(int64(upto), next-1) <= from {
		return uint32(from), err // nothing to claim: no write
	}
	err = s.write(ctx, func(w *wtx) error {
		err := w.tx.QueryRow(w.ctx, `SELECT recent_uid, uidnext FROM mailboxes WHERE id = $1 AND account_id = $2 FOR UPDATE`,
			mailboxID, accountID).Scan(&from, &next)
		if err != nil {
			return notFound(err, "mailbox", mailboxID)
		}
		if to := min(int64(upto), next-1); to > from {
			_, err = w.tx.Exec(w.ctx, `UPDATE mailboxes SET recent_uid = $2 WHERE id = $1`, mailboxID, to)
		}
		return err
	})
	return uint32(from), err
}
