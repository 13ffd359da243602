package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"postel/internal/store"
)

// AddDomain implements store.Store.
func (s *Store) AddDomain(ctx context.Context, name string) error {
	d, err := store.CanonicalDomain(name)
	if err != nil {
		return err
	}
	return s.write(ctx, func(w *wtx) error {
		res, err := w.tx.ExecContext(w.ctx, `INSERT INTO domains (name, created) VALUES (?, ?) ON CONFLICT DO NOTHING`, d, time.Now().Unix())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: domain %s", store.ErrExists, d)
		}
		return nil
	})
}

// DeleteDomain implements store.Store.
func (s *Store) DeleteDomain(ctx context.Context, name string) error {
	d, err := store.CanonicalDomain(name)
	if err != nil {
		return err
	}
	return s.write(ctx, func(w *wtx) error {
		var n int
		if err := w.tx.QueryRowContext(w.ctx, `SELECT COUNT(*) FROM accounts WHERE domain = ?`, d).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: domain %s has %d accounts", store.ErrInUse, d, n)
		}
		res, err := w.tx.ExecContext(w.ctx, `DELETE FROM domains WHERE name = ?`, d)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: domain %s", store.ErrNotFound, d)
		}
		_, err = w.tx.ExecContext(w.ctx, `DELETE FROM aliases WHERE address LIKE '%@' || ?`, d)
		return err
	})
}

// ListDomains implements store.Store.
func (s *Store) ListDomains(ctx context.Context) ([]store.Domain, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT name, created FROM domains ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Domain
	for rows.Next() {
		var d store.Domain
		var created int64
		if err := rows.Scan(&d.Name, &created); err != nil {
			return nil, err
		}
		d.Created = time.Unix(created, 0)
		out = append(out, d)
	}
	return out, rows.Err()
}

// HasDomain implements store.Store.
func (s *Store) HasDomain(ctx context.Context, name string) (bool, error) {
	d, err := store.CanonicalDomain(name)
	if err != nil {
		return false, nil
	}
	var n int
	err = s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM domains WHERE name = ?`, d).Scan(&n)
	return n > 0, err
}

// CreateAccount implements store.Store. The account gets the default
// mailboxes with their special-use roles.
func (s *Store) CreateAccount(ctx context.Context, address string, cred store.Credentials) (store.Account, error) {
	addr, err := store.CanonicalAddress(address, false)
	if err != nil {
		return store.Account{}, err
	}
	domain := store.DomainOf(addr)
	var id int64
	err = s.write(ctx, func(w *wtx) error {
		var n int
		if err := w.tx.QueryRowContext(w.ctx, `SELECT COUNT(*) FROM domains WHERE name = ?`, domain).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%w: domain %s is not a local domain", store.ErrNotFound, domain)
		}
		res, err := w.tx.ExecContext(w.ctx, `INSERT INTO accounts (address, domain, password_hash, scram_sha256, created)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			addr, domain, cred.PasswordHash, cred.SCRAMSHA256, time.Now().Unix())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: account %s", store.ErrExists, addr)
		}
		if id, err = res.LastInsertId(); err != nil {
			return err
		}
		for _, mb := range store.DefaultMailboxes {
			if _, err := w.createMailbox(id, mb.Name, mb.Role); err != nil {
				return err
			}
			// A new account's default mailboxes come subscribed.
			if _, err := w.tx.ExecContext(w.ctx, `INSERT INTO subscriptions (account_id, name) VALUES (?, ?)`, id, mb.Name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return store.Account{}, err
	}
	return s.AccountByID(ctx, id)
}

// SetCredentials implements store.Store; it moves the AuthEpoch on.
func (s *Store) SetCredentials(ctx context.Context, address string, cred store.Credentials) error {
	addr, err := store.CanonicalAddress(address, false)
	if err != nil {
		return err
	}
	return s.write(ctx, func(w *wtx) error {
		res, err := w.tx.ExecContext(w.ctx, `UPDATE accounts SET password_hash = ?, scram_sha256 = ?, auth_epoch = auth_epoch + 1 WHERE address = ?`,
			cred.PasswordHash, cred.SCRAMSHA256, addr)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: account %s", store.ErrNotFound, addr)
		}
		return w.forgetAccountFailures(addr)
	})
}

var _ store.AuthEpochs = (*Store)(nil)

// BumpAuthEpoch implements store.AuthEpochs.
func (s *Store) BumpAuthEpoch(ctx context.Context, address string) (int64, error) {
	addr, err := store.CanonicalAddress(address, false)
	if err != nil {
		return 0, err
	}
	var epoch int64
	err = s.write(ctx, func(w *wtx) error {
		err := w.tx.QueryRowContext(w.ctx, `UPDATE accounts SET auth_epoch = auth_epoch + 1 WHERE address = ? RETURNING auth_epoch`, addr).Scan(&epoch)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: account %s", store.ErrNotFound, addr)
		} else if err != nil {
			return err
		}
		return w.forgetAccountFailures(addr)
	})
	return epoch, err
}

// SetQuota implements store.Store.
func (s *Store) SetQuota(ctx context.Context, address string, bytes int64) error {
	if bytes < 0 {
		return fmt.Errorf("%w: negative quota", store.ErrInvalid)
	}
	return s.updateAccount(ctx, address, `UPDATE accounts SET quota_bytes = ? WHERE address = ?`, bytes)
}

// SetDisabled implements store.Store: the ChangeAccount it announces tells
// the sessions logged in to the account to look at it again, and a
// ChangeShared tells each account its mailboxes are shared with (a
// disabled account shares nothing).
func (s *Store) SetDisabled(ctx context.Context, address string, disabled bool) error {
	addr, err := store.CanonicalAddress(address, false)
	if err != nil {
		return err
	}
	return s.write(ctx, func(w *wtx) error {
		var id int64
		err := w.tx.QueryRowContext(w.ctx, `UPDATE accounts SET disabled = ? WHERE address = ? RETURNING id`, disabled, addr).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: account %s", store.ErrNotFound, addr)
		} else if err != nil {
			return err
		}
		w.changes = append(w.changes, store.Change{AccountID: id, Kind: store.ChangeAccount})
		rows, err := w.tx.QueryContext(w.ctx, `SELECT DISTINCT acl.grantee_id FROM acl JOIN mailboxes m ON m.id = acl.mailbox_id
			WHERE m.account_id = ? AND acl.grantee_id != 0 ORDER BY acl.grantee_id`, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var g int64
			if err := rows.Scan(&g); err != nil {
				return err
			}
			w.changes = append(w.changes, store.Change{AccountID: g, Kind: store.ChangeShared})
		}
		return rows.Err()
	})
}

func (s *Store) updateAccount(ctx context.Context, address, query string, args ...any) error {
	addr, err := store.CanonicalAddress(address, false)
	if err != nil {
		return err
	}
	return s.write(ctx, func(w *wtx) error {
		res, err := w.tx.ExecContext(w.ctx, query, append(args, addr)...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: account %s", store.ErrNotFound, addr)
		}
		return nil
	})
}

// DeleteAccount implements store.Store: its mailboxes and messages go, so
// do its subscriptions, junk rules and reputations and the rights others granted it, and aliases pointing at it lose that
// target. Queued outbound mail stays. The ChangeAccount comes last, after
// the mailboxes' changes.
func (s *Store) DeleteAccount(ctx context.Context, address string) error {
	addr, err := store.CanonicalAddress(address, false)
	if err != nil {
		return err
	}
	return s.write(ctx, func(w *wtx) error {
		var id int64
		err := w.tx.QueryRowContext(w.ctx, `SELECT id FROM accounts WHERE address = ?`, addr).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: account %s", store.ErrNotFound, addr)
		} else if err != nil {
			return err
		}
		rows, err := w.tx.QueryContext(w.ctx, `SELECT id FROM mailboxes WHERE account_id = ?`, id)
		if err != nil {
			return err
		}
		mbs, err := scanInt64s(rows)
		if err != nil {
			return err
		}
		for _, mb := range mbs {
			if err := w.deleteMailbox(id, mb); err != nil {
				return err
			}
		}
		if _, err := w.tx.ExecContext(w.ctx, `DELETE FROM aliases WHERE target = ?`, addr); err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM junk_rules WHERE account_id = ?`, `DELETE FROM junk_reputation WHERE account_id = ?`,
			`DELETE FROM subscriptions WHERE account_id = ?`, `DELETE FROM metadata WHERE account_id = ?`,
			`DELETE FROM acl WHERE grantee_id = ?`} {
			if _, err := w.tx.ExecContext(w.ctx, q, id); err != nil {
				return err
			}
		}
		if _, err = w.tx.ExecContext(w.ctx, `DELETE FROM accounts WHERE id = ?`, id); err != nil {
			return err
		}
		w.changes = append(w.changes, store.Change{AccountID: id, Kind: store.ChangeAccount})
		return nil
	})
}

const accountCols = `id, address, domain, password_hash, scram_sha256, quota_bytes, used_bytes, disabled, created, auth_epoch`

func scanAccount(row interface{ Scan(...any) error }) (store.Account, error) {
	var a store.Account
	var created int64
	err := row.Scan(&a.ID, &a.Address, &a.Domain, &a.Credentials.PasswordHash, &a.Credentials.SCRAMSHA256,
		&a.QuotaBytes, &a.UsedBytes, &a.Disabled, &created, &a.AuthEpoch)
	a.Created = time.Unix(created, 0)
	return a, err
}

// Account implements store.Store.
func (s *Store) Account(ctx context.Context, address string) (store.Account, error) {
	addr, err := store.CanonicalAddress(address, false)
	if err != nil {
		return store.Account{}, fmt.Errorf("%w: account %q", store.ErrNotFound, address)
	}
	a, err := scanAccount(s.rdb.QueryRowContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE address = ?`, addr))
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("%w: account %s", store.ErrNotFound, addr)
	}
	return a, err
}

// AccountByID implements store.Store.
func (s *Store) AccountByID(ctx context.Context, id int64) (store.Account, error) {
	a, err := scanAccount(s.rdb.QueryRowContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("%w: account %d", store.ErrNotFound, id)
	}
	return a, err
}

// ListAccounts implements store.Store.
func (s *Store) ListAccounts(ctx context.Context) ([]store.Account, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+accountCols+` FROM accounts ORDER BY domain, address`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// AddAlias implements store.Store. The alias's domain must be local.
func (s *Store) AddAlias(ctx context.Context, address, target string) error {
	addr, err := store.CanonicalAddress(address, true)
	if err != nil {
		return err
	}
	tgt, err := store.CanonicalAddress(target, false)
	if err != nil {
		return err
	}
	return s.write(ctx, func(w *wtx) error {
		var n int
		if err := w.tx.QueryRowContext(w.ctx, `SELECT COUNT(*) FROM domains WHERE name = ?`, store.DomainOf(addr)).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%w: %s is not in a local domain", store.ErrInvalid, addr)
		}
		res, err := w.tx.ExecContext(w.ctx, `INSERT INTO aliases (address, target) VALUES (?, ?) ON CONFLICT DO NOTHING`, addr, tgt)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: alias %s -> %s", store.ErrExists, addr, tgt)
		}
		return nil
	})
}

// DeleteAlias implements store.Store.
func (s *Store) DeleteAlias(ctx context.Context, address, target string) error {
	addr, err := store.CanonicalAddress(address, true)
	if err != nil {
		return err
	}
	q, args := `DELETE FROM aliases WHERE address = ?`, []any{addr}
	if target != "" {
		tgt, err := store.CanonicalAddress(target, false)
		if err != nil {
			return err
		}
		q, args = q+` AND target = ?`, append(args, tgt)
	}
	return s.write(ctx, func(w *wtx) error {
		res, err := w.tx.ExecContext(w.ctx, q, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: alias %s", store.ErrNotFound, addr)
		}
		return nil
	})
}

// Alias implements store.Store.
func (s *Store) Alias(ctx context.Context, address string) (store.Alias, error) {
	addr, err := store.CanonicalAddress(address, true)
	if err != nil {
		return store.Alias{}, fmt.Errorf("%w: alias %q", store.ErrNotFound, address)
	}
	all, err := s.aliases(ctx, `WHERE address = ?`, addr)
	if err != nil {
		return store.Alias{}, err
	}
	if len(all) == 0 {
		return store.Alias{}, fmt.Errorf("%w: alias %s", store.ErrNotFound, addr)
	}
	return all[0], nil
}

// ListAliases implements store.Store.
func (s *Store) ListAliases(ctx context.Context) ([]store.Alias, error) {
	return s.aliases(ctx, "")
}

func (s *Store) aliases(ctx context.Context, where string, args ...any) ([]store.Alias, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT address, target FROM aliases `+where+` ORDER BY address, target`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Alias
	for rows.Next() {
		var addr, tgt string
		if err := rows.Scan(&addr, &tgt); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].Address != addr {
			out = append(out, store.Alias{Address: addr})
		}
		last := &out[len(out)-1]
		last.Targets = append(last.Targets, tgt)
	}
	return out, rows.Err()
}
