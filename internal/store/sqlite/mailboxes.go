package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"postel/internal/store"
)

// createMailbox inserts a mailbox with a fresh UIDVALIDITY: greater than any
// the account had before, so a mailbox deleted and created again under the
// same name never repeats one (RFC 9051 §2.3.1.1).
func (w *wtx) createMailbox(accountID int64, name, role string) (int64, error) {
	var n int
	if err := w.tx.QueryRowContext(w.ctx, `SELECT COUNT(*) FROM mailboxes WHERE account_id = ?`, accountID).Scan(&n); err != nil {
		return 0, err
	}
	if n >= store.MaxMailboxes {
		return 0, fmt.Errorf("%w: %d mailboxes", store.ErrQuota, n)
	}
	var last int64
	if err := w.tx.QueryRowContext(w.ctx, `SELECT uidvalidity_last FROM accounts WHERE id = ?`, accountID).Scan(&last); err != nil {
		return 0, err
	}
	uv := max(time.Now().Unix(), last+1)
	if uv > 1<<32-1 {
		return 0, fmt.Errorf("sqlite: UIDVALIDITY space exhausted for account %d", accountID)
	}
	if _, err := w.tx.ExecContext(w.ctx, `UPDATE accounts SET uidvalidity_last = ? WHERE id = ?`, uv, accountID); err != nil {
		return 0, err
	}
	res, err := w.tx.ExecContext(w.ctx, `INSERT INTO mailboxes (account_id, name, uidvalidity, special_use)
		VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`, accountID, name, uv, role)
	if err != nil {
		return 0, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return 0, fmt.Errorf("%w: mailbox %s", store.ErrExists, name)
	}
	id, err := res.LastInsertId()
	if err != nil {
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
		var n int
		if err := w.tx.QueryRowContext(w.ctx, `SELECT COUNT(*) FROM accounts WHERE id = ?`, accountID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%w: account %d", store.ErrNotFound, accountID)
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
		id, err := w.mailboxID(accountID, from)
		if err != nil {
			return err
		}
		var n int
		if err := w.tx.QueryRowContext(w.ctx, `SELECT COUNT(*) FROM mailboxes WHERE account_id = ? AND (name = ? OR name LIKE ? ESCAPE '\')`,
			accountID, to, likePrefix(to)).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: mailbox %s", store.ErrExists, to)
		}
		rows, err := w.tx.QueryContext(w.ctx, `SELECT id, name FROM mailboxes WHERE account_id = ? AND (id = ? OR name LIKE ? ESCAPE '\')`,
			accountID, id, likePrefix(from))
		if err != nil {
			return err
		}
		type mb struct {
			id   int64
			name string
		}
		var all []mb
		for rows.Next() {
			var m mb
			if err := rows.Scan(&m.id, &m.name); err != nil {
				rows.Close()
				return err
			}
			all = append(all, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, m := range all {
			newName := to + strings.TrimPrefix(m.name, from)
			if _, err := w.tx.ExecContext(w.ctx, `UPDATE mailboxes SET name = ? WHERE id = ?`, newName, m.id); err != nil {
				return err
			}
			w.changes = append(w.changes, store.Change{AccountID: accountID, MailboxID: m.id, Kind: store.ChangeMailbox})
		}
		return nil
	})
}

// likePrefix is a LIKE pattern for the children of name.
func likePrefix(name string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(name) + "/%"
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
		id, err := w.mailboxID(accountID, name)
		if err != nil {
			return err
		}
		return w.deleteMailbox(accountID, id)
	})
}

// deleteMailbox removes a mailbox, its messages, its expunge history and
// its access control list.
func (w *wtx) deleteMailbox(accountID, id int64) error {
	rows, err := w.tx.QueryContext(w.ctx, `SELECT uid FROM messages WHERE mailbox_id = ?`, id)
	if err != nil {
		return err
	}
	var uids []uint32
	for rows.Next() {
		var u uint32
		if err := rows.Scan(&u); err != nil {
			rows.Close()
			return err
		}
		uids = append(uids, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if _, err := w.expunge(accountID, id, uids); err != nil {
		return err
	}
	// By the whole primary key prefix (account, mailbox): not a scan.
	if _, err := w.tx.ExecContext(w.ctx, `DELETE FROM metadata WHERE account_id = ? AND mailbox_id = ?`, accountID, id); err != nil {
		return err
	}
	for _, q := range []string{`DELETE FROM expunged WHERE mailbox_id = ?`, `DELETE FROM acl WHERE mailbox_id = ?`, `DELETE FROM mailboxes WHERE id = ?`} {
		if _, err := w.tx.ExecContext(w.ctx, q, id); err != nil {
			return err
		}
	}
	w.changes = append(w.changes, store.Change{AccountID: accountID, MailboxID: id, Kind: store.ChangeMailbox})
	return nil
}

// mailboxID finds a mailbox of the account by canonical name.
func (w *wtx) mailboxID(accountID int64, name string) (int64, error) {
	var id int64
	err := w.tx.QueryRowContext(w.ctx, `SELECT id FROM mailboxes WHERE account_id = ? AND name = ?`, accountID, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%w: mailbox %s", store.ErrNotFound, name)
	}
	return id, err
}

const mailboxCols = `id, account_id, name, uidvalidity, uidnext, highest_modseq, special_use,
	EXISTS (SELECT 1 FROM subscriptions s WHERE s.account_id = mailboxes.account_id AND s.name = mailboxes.name), recent_uid`

// mailboxes reads mailbox rows, then counts each one's messages in one
// index range scan (bit 1 of sysflags is \Seen, bit 8 \Deleted:
// store.SeenBit, store.DeletedBit).
func (s *Store) mailboxes(ctx context.Context, where string, args ...any) ([]store.Mailbox, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+mailboxCols+` FROM mailboxes `+where, args...)
	if err != nil {
		return nil, err
	}
	var out []store.Mailbox
	for rows.Next() {
		var m store.Mailbox
		if err := rows.Scan(&m.ID, &m.AccountID, &m.Name, &m.UIDValidity, &m.UIDNext, &m.HighestModSeq, &m.SpecialUse, &m.Subscribed, &m.RecentUID); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		m := &out[i]
		if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(sysflags & 1 = 0), 0), COALESCE(SUM(sysflags & 8 != 0), 0),
			COALESCE(SUM(size), 0), COALESCE(SUM(uid > ?), 0), COALESCE(SUM(CASE WHEN sysflags & 8 != 0 THEN size ELSE 0 END), 0)
			FROM messages WHERE mailbox_id = ?`, m.RecentUID, m.ID).Scan(&m.Messages, &m.Unseen, &m.Deleted, &m.Size, &m.Recent, &m.DeletedSize); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Mailbox implements store.Store.
func (s *Store) Mailbox(ctx context.Context, accountID int64, name string) (store.Mailbox, error) {
	name, err := store.CanonicalMailbox(name)
	if err != nil {
		return store.Mailbox{}, err
	}
	all, err := s.mailboxes(ctx, `WHERE account_id = ? AND name = ?`, accountID, name)
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
	return s.mailboxes(ctx, `WHERE account_id = ? ORDER BY name`, accountID)
}

// SetSubscribed implements store.Store.
func (s *Store) SetSubscribed(ctx context.Context, accountID int64, name string, on bool) error {
	name, err := store.CanonicalMailbox(name)
	if err != nil {
		return err
	}
	return s.write(ctx, func(w *wtx) error {
		var res sql.Result
		if !on {
			if res, err = w.tx.ExecContext(w.ctx, `DELETE FROM subscriptions WHERE account_id = ? AND name = ?`, accountID, name); err != nil {
				return err
			}
		} else {
			var accounts, n int
			if err := w.tx.QueryRowContext(w.ctx, `SELECT (SELECT COUNT(*) FROM accounts WHERE id = ?), (SELECT COUNT(*) FROM subscriptions WHERE account_id = ?)`,
				accountID, accountID).Scan(&accounts, &n); err != nil {
				return err
			}
			if accounts == 0 {
				return fmt.Errorf("%w: account %d", store.ErrNotFound, accountID)
			}
			if n >= store.MaxSubscriptions {
				return fmt.Errorf("%w: %d subscriptions", store.ErrQuota, n)
			}
			if res, err = w.tx.ExecContext(w.ctx, `INSERT INTO subscriptions (account_id, name) VALUES (?, ?) ON CONFLICT DO NOTHING`, accountID, name); err != nil {
				return err
			}
		}
		if n, _ := res.RowsAffected(); n > 0 {
			// Announced for NOTIFY's SubscriptionChange (RFC 5465): the
			// mailbox of that name, 0 when the name is none.
			var id int64
			if err := w.tx.QueryRowContext(w.ctx, `SELECT id FROM mailboxes WHERE account_id = ? AND name = ?`, accountID, name).Scan(&id); err != nil && err != sql.ErrNoRows {
				return err
			}
			w.changes = append(w.changes, store.Change{AccountID: accountID, MailboxID: id, Kind: store.ChangeSubscription})
		}
		return nil
	})
}

// Subscriptions implements store.Store.
func (s *Store) Subscriptions(ctx context.Context, accountID int64) ([]string, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT name FROM subscriptions WHERE account_id = ? ORDER BY name`, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		out = append(out, name)
	}
	return out, rows.Err()
}

// ClaimRecent implements store.Store. The writer's transaction holds
// SQLite's write lock: no other claim, of this process or another, comes
// between the read and the update.
func (s *Store) ClaimRecent(ctx context.Context, accountID, mailboxID int64, upto uint32) (uint32, error) {
	var from, next uint32
	err := s.rdb.QueryRowContext(ctx, `SELECT recent_uid, uidnext FROM mailboxes WHERE id = ? AND account_id = ?`, mailboxID, accountID).Scan(&from, &next)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%w: mailbox %d", store.ErrNotFound, mailboxID)
	} else if err != nil {
		return 0, err
	}
	if min(upto, next-1) <= from {
		return from, nil // nothing to claim: no write
	}
	err = s.write(ctx, func(w *wtx) error {
		err := w.tx.QueryRowContext(w.ctx, `SELECT recent_uid, uidnext FROM mailboxes WHERE id = ? AND account_id = ?`, mailboxID, accountID).Scan(&from, &next)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: mailbox %d", store.ErrNotFound, mailboxID)
		} else if err != nil {
			return err
		}
		if to := min(upto, next-1); to > from {
			_, err = w.tx.ExecContext(w.ctx, `UPDATE mailboxes SET recent_uid = ? WHERE id = ?`, to, mailboxID)
		}
		return err
	})
	return from, err
}
