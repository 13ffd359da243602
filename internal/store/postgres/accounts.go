package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"postel/internal/store"
)

// AddDomain implements store.Store.
func (s *Store) AddDomain(ctx context.Context, name string) error {
	d, err := store.CanonicalDomain(name)
	if err != nil {
		return err
	}
	return s.write(ctx, func(w *wtx) error {
		tag, err := w.tx.Exec(w.ctx, `INSERT INTO domains (name, created) VALUES ($1, $2) ON CONFLICT DO NOTHING`, d, time.Now().Unix())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: domain %s", store.ErrExists, d)
		}
		return nil
	})
}

// DeleteDomain implements store.Store: ErrInUse while the domain has
// accounts; its aliases go with it.
func (s *Store) DeleteDomain(ctx context.Context, name string) error {
	d, err := store.CanonicalDomain(name)
	if err != nil {
		return err
	}
	return s.write(ctx, func(w *wtx) error {
		// The domain's row, locked: no account is created in it meanwhile
		// (the accounts' foreign key waits for this lock).
		var n int
		err := w.tx.QueryRow(w.ctx, `SELECT (SELECT COUNT(*) FROM accounts WHERE domain = d.name) FROM domains d WHERE d.name = $1 FOR UPDATE`, d).Scan(&n)
		if err != nil {
			return notFound(err, "domain", d)
		}
		if n > 0 {
			return fmt.Errorf("%w: domain %s has %d accounts", store.ErrInUse, d, n)
		}
		if _, err := w.tx.Exec(w.ctx, `DELETE FROM domains WHERE name = $1`, d); err != nil {
			return err
		}
		_, err = w.tx.Exec(w.ctx, `DELETE FROM aliases WHERE right(address, length($1) + 1) = '@' || $1`, d)
		return err
	})
}

// ListDomains implements store.Store.
func (s *Store) ListDomains(ctx context.Context) ([]store.Domain, error) {
	var out []store.Domain
	err := s.read(ctx, func(ctx context.Context, q querier) error {
		rows, err := q.Query(ctx, `SELECT name, created FROM domains ORDER BY name COLLATE "C"`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Domain, error) {
			var d store.Domain
			var created int64
			err := r.Scan(&d.Name, &created)
			d.Created = time.Unix(created, 0)
			return d, err
		})
		return err
	})
	return out, err
}

// HasDomain implements store.Store.
func (s *Store) HasDomain(ctx context.Context, name string) (bool, error) {
	d, err := store.CanonicalDomain(name)
	if err != nil {
		return false, nil
	}
	var ok bool
	err = s.read(ctx, func(ctx context.Context, q querier) error {
		return q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM domains WHERE name = $1)`, d).Scan(&ok)
	})
	return ok, err
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
		// The domain's row, shared: DeleteDomain cannot go on meanwhile.
		var ok bool
		if err := w.tx.QueryRow(w.ctx, `SELECT EXISTS (SELECT 1 FROM domains WHERE name = $1 FOR KEY SHARE)`, domain).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: domain %s is not a local domain", store.ErrNotFound, domain)
		}
		err := w.tx.QueryRow(w.ctx, `INSERT INTO accounts (address, domain, password_hash, scram_sha256, created)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING id`,
			addr, domain, cred.PasswordHash, cred.SCRAMSHA256, time.Now().Unix()).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: account %s", store.ErrExists, addr)
		} else if err != nil {
			return err
		}
		if err := w.lockAccounts(id); err != nil {
			return err
		}
		for _, mb := range store.DefaultMailboxes {
			if _, err := w.createMailbox(id, mb.Name, mb.Role); err != nil {
				return err
			}
			// A new account's default mailboxes come subscribed.
			if _, err := w.tx.Exec(w.ctx, `INSERT INTO subscriptions (account_id, name) VALUES ($1, $2)`, id, mb.Name); err != nil {
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

// SetCredentials implements store.Store; it moves the AuthEpoch on and
// forgets the failed logins against the account (store.LoginFailures).
func (s *Store) SetCredentials(ctx context.Context, address string, cred store.Credentials) error {
	addr, err := store.CanonicalAddress(address, false)
	if err != nil {
		return err
	}
	return s.write(ctx, func(w *wtx) error {
		tag, err := w.tx.Exec(w.ctx, `UPDATE accounts SET password_hash = $2, scram_sha256 = $3, auth_epoch = auth_epoch + 1 WHERE address = $1`,
			addr, cred.PasswordHash, cred.SCRAMSHA256)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: account %s", store.ErrNotFound, addr)
		}
		return w.forgetAccountFailures(addr)
	})
}

// BumpAuthEpoch implements store.AuthEpochs.
func (s *Store) BumpAuthEpoch(ctx context.Context, address string) (int64, error) {
	addr, err := store.CanonicalAddress(address, false)
	if err != nil {
		return 0, err
	}
	var epoch int64
	err = s.write(ctx, func(w *wtx) error {
		err := w.tx.QueryRow(w.ctx, `UPDATE accounts SET auth_epoch = auth_epoch + 1 WHERE address = $1 RETURNING auth_epoch`, addr).Scan(&epoch)
		if err != nil {
			return notFound(err, "account", addr)
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
	return s.updateAccount(ctx, address, `UPDATE accounts SET quota_bytes = $2 WHERE address = $1`, bytes)
}

// SetDisabled implements store.Store: the ChangeAccount it announces tells
// the sessions logged in to the account, on every node, to look at it
// again, and a ChangeShared tells each account its mailboxes are shared
// with (a disabled account shares nothing).
func (s *Store) SetDisabled(ctx context.Context, address string, disabled bool) error {
	addr, err := store.CanonicalAddress(address, false)
	if err != nil {
		return err
	}
	return s.write(ctx, func(w *wtx) error {
		w.changes = nil
		var id int64
		err := w.tx.QueryRow(w.ctx, `UPDATE accounts SET disabled = $2 WHERE address = $1 RETURNING id`, addr, disabled).Scan(&id)
		if err != nil {
			return notFound(err, "account", addr)
		}
		w.changes = append(w.changes, store.Change{AccountID: id, Kind: store.ChangeAccount})
		rows, err := w.tx.Query(w.ctx, `SELECT DISTINCT acl.grantee_id FROM acl JOIN mailboxes m ON m.id = acl.mailbox_id
			WHERE m.account_id = $1 AND acl.grantee_id != 0 ORDER BY acl.grantee_id`, id)
		if err != nil {
			return err
		}
		grantees, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		for _, g := range grantees {
			w.changes = append(w.changes, store.Change{AccountID: g, Kind: store.ChangeShared})
		}
		return nil
	})
}

// updateAccount runs an UPDATE of the account whose address is $1.
func (s *Store) updateAccount(ctx context.Context, address, query string, args ...any) error {
	addr, err := store.CanonicalAddress(address, false)
	if err != nil {
		return err
	}
	return s.write(ctx, func(w *wtx) error {
		tag, err := w.tx.Exec(w.ctx, query, append([]any{addr}, args...)...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: account %s", store.ErrNotFound, addr)
		}
		return nil
	})
}

// DeleteAccount implements store.Store: its mailboxes and messages go, so
// do its junk rules and reputations and the rights others granted it, and
// aliases pointing at it lose that target. Queued outbound mail stays. The ChangeAccount comes last, after
// the mailboxes' changes.
func (s *Store) DeleteAccount(ctx context.Context, address string) error {
	addr, err := store.CanonicalAddress(address, false)
	if err != nil {
		return err
	}
	return s.write(ctx, func(w *wtx) error {
		var id int64
		// FOR UPDATE, not NO KEY: the row goes.
		err := w.tx.QueryRow(w.ctx, `SELECT id FROM accounts WHERE address = $1 FOR UPDATE`, addr).Scan(&id)
		if err != nil {
			return notFound(err, "account", addr)
		}
		if err := w.lockAccounts(id); err != nil {
			return err
		}
		rows, err := w.tx.Query(w.ctx, `SELECT id FROM mailboxes WHERE account_id = $1 ORDER BY id`, id)
		if err != nil {
			return err
		}
		mbs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		for _, mb := range mbs {
			if err := w.deleteMailbox(id, mb); err != nil {
				return err
			}
		}
		if _, err := w.tx.Exec(w.ctx, `DELETE FROM aliases WHERE target = $1`, addr); err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM junk_rules WHERE account_id = $1`, `DELETE FROM junk_reputation WHERE account_id = $1`,
			`DELETE FROM subscriptions WHERE account_id = $1`, `DELETE FROM metadata WHERE account_id = $1`,
			`DELETE FROM acl WHERE grantee_id = $1`} {
			if _, err := w.tx.Exec(w.ctx, q, id); err != nil {
				return err
			}
		}
		// Its use is gone with it.
		delete(w.accounts, id)
		if _, err = w.tx.Exec(w.ctx, `DELETE FROM accounts WHERE id = $1`, id); err != nil {
			return err
		}
		w.changes = append(w.changes, store.Change{AccountID: id, Kind: store.ChangeAccount})
		return nil
	})
}

const accountCols = `id, address, domain, password_hash, scram_sha256, quota_bytes, used_bytes, disabled, created, auth_epoch`

func scanAccount(row pgx.Row) (store.Account, error) {
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
	var a store.Account
	err = s.read(ctx, func(ctx context.Context, q querier) error {
		a, err = scanAccount(q.QueryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE address = $1`, addr))
		return notFound(err, "account", addr)
	})
	return a, err
}

// AccountByID implements store.Store.
func (s *Store) AccountByID(ctx context.Context, id int64) (store.Account, error) {
	var a store.Account
	err := s.read(ctx, func(ctx context.Context, q querier) error {
		var err error
		a, err = scanAccount(q.QueryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE id = $1`, id))
		return notFound(err, "account", id)
	})
	return a, err
}

// ListAccounts implements store.Store.
func (s *Store) ListAccounts(ctx context.Context) ([]store.Account, error) {
	var out []store.Account
	err := s.read(ctx, func(ctx context.Context, q querier) error {
		rows, err := q.Query(ctx, `SELECT `+accountCols+` FROM accounts ORDER BY domain COLLATE "C", address COLLATE "C"`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Account, error) { return scanAccount(r) })
		return err
	})
	return out, err
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
		var ok bool
		if err := w.tx.QueryRow(w.ctx, `SELECT EXISTS (SELECT 1 FROM domains WHERE name = $1 FOR KEY SHARE)`, store.DomainOf(addr)).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: %s is not in a local domain", store.ErrInvalid, addr)
		}
		tag, err := w.tx.Exec(w.ctx, `INSERT INTO aliases (address, target) VALUES ($1, $2) ON CONFLICT DO NOTHING`, addr, tgt)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
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
	q, args := `DELETE FROM aliases WHERE address = $1`, []any{addr}
	if target != "" {
		tgt, err := store.CanonicalAddress(target, false)
		if err != nil {
			return err
		}
		q, args = q+` AND target = $2`, append(args, tgt)
	}
	return s.write(ctx, func(w *wtx) error {
		tag, err := w.tx.Exec(w.ctx, q, args...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
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
	all, err := s.aliases(ctx, `WHERE address = $1`, addr)
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
	var out []store.Alias
	err := s.read(ctx, func(ctx context.Context, q querier) error {
		out = nil
		rows, err := q.Query(ctx, `SELECT address, target FROM aliases `+where+` ORDER BY address COLLATE "C", target COLLATE "C"`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var addr, tgt string
			if err := rows.Scan(&addr, &tgt); err != nil {
				return err
			}
			if len(out) == 0 || out[len(out)-1].Address != addr {
				out = append(out, store.Alias{Address: addr})
			}
			last := &out[len(out)-1]
			last.Targets = append(last.Targets, tgt)
		}
		return rows.Err()
	})
	return out, err
}
