package admin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"postel/internal/store"
)

// Account is an account as admin commands show it: no credentials.
type Account struct {
	Address    string    `json:"address"`
	Domain     string    `json:"domain"`
	QuotaBytes int64     `json:"quota_bytes"` // 0: none
	UsedBytes  int64     `json:"used_bytes"`
	Disabled   bool      `json:"disabled"`
	Created    time.Time `json:"created"`
}

func accountOf(a store.Account) Account {
	return Account{Address: a.Address, Domain: a.Domain, QuotaBytes: a.QuotaBytes, UsedBytes: a.UsedBytes,
		Disabled: a.Disabled, Created: a.Created.UTC()}
}

// Credentials are an account's new secrets, made by auth.NewCredentials
// in the CLI: the password itself never reaches the server.
type Credentials struct {
	PasswordHash string `json:"password_hash"`
	SCRAMSHA256  string `json:"scram_sha256"`
}

func (c Credentials) store() store.Credentials {
	return store.Credentials{PasswordHash: c.PasswordHash, SCRAMSHA256: c.SCRAMSHA256}
}

// AddAccount creates an account in a local domain, with the default
// mailboxes and, when quota > 0, a storage quota.
func (a *Admin) AddAccount(ctx context.Context, address string, cred Credentials, quota int64) (Account, error) {
	if quota < 0 {
		return Account{}, refusal(KindInvalid, "bad quota %d: want a number of bytes, 0 for none", quota)
	}
	addr, err := store.CanonicalAddress(address, false)
	if err != nil {
		return Account{}, refusal(KindInvalid, "bad address %q: want user@domain", address)
	}
	acct, err := a.st.CreateAccount(ctx, addr, cred.store())
	switch {
	case errors.Is(err, store.ErrNotFound):
		d := store.DomainOf(addr)
		return Account{}, refusal(KindNotFound, "%s is not a local domain: add it first (postel domain add %s)", d, d)
	case errors.Is(err, store.ErrExists):
		return Account{}, refusal(KindExists, "account %s exists already", addr)
	case err != nil:
		return Account{}, err
	}
	if quota > 0 {
		if err := a.st.SetQuota(ctx, addr, quota); err != nil {
			return Account{}, fmt.Errorf("account %s created, but setting its quota failed: %w", addr, err)
		}
		acct.QuotaBytes = quota
	}
	return accountOf(acct), nil
}

// SetPassword replaces an account's credentials; the next login needs the
// new password, and the account's failed logins are forgotten (its
// AuthEpoch moves on).
func (a *Admin) SetPassword(ctx context.Context, address string, cred Credentials) (Account, error) {
	if err := a.st.SetCredentials(ctx, address, cred.store()); err != nil {
		return Account{}, accountErr(address, err)
	}
	return a.accountView(ctx, address)
}

// Unlock forgets the failed logins against an account, ending the
// lockouts they caused: it moves the account's AuthEpoch on
// (store.AuthEpochs), which the server's login throttle sees at the
// account's next login attempt.
func (a *Admin) Unlock(ctx context.Context, address string) (Account, error) {
	ae, ok := a.st.(store.AuthEpochs)
	if !ok {
		return Account{}, fmt.Errorf("admin: %T cannot unlock accounts", a.st)
	}
	if _, err := ae.BumpAuthEpoch(ctx, address); err != nil {
		return Account{}, accountErr(address, err)
	}
	return a.accountView(ctx, address)
}

// SetQuota sets an account's storage quota in bytes; 0 removes it.
func (a *Admin) SetQuota(ctx context.Context, address string, bytes int64) (Account, error) {
	if bytes < 0 {
		return Account{}, refusal(KindInvalid, "bad quota %d: want a number of bytes, 0 for none", bytes)
	}
	if err := a.st.SetQuota(ctx, address, bytes); err != nil {
		return Account{}, accountErr(address, err)
	}
	return a.accountView(ctx, address)
}

// SetDisabled disables an account (no logins, no mail; its mail stays) or
// enables it again. Disabling ends the account's open sessions.
func (a *Admin) SetDisabled(ctx context.Context, address string, disabled bool) (Account, error) {
	if err := a.st.SetDisabled(ctx, address, disabled); err != nil {
		return Account{}, accountErr(address, err)
	}
	return a.accountView(ctx, address)
}

// DeleteAccount deletes an account with all its mail; its open sessions
// end. Aliases pointing at it lose that target.
func (a *Admin) DeleteAccount(ctx context.Context, address string) (Account, error) {
	acct, err := a.account(ctx, address)
	if err != nil {
		return Account{}, err
	}
	if err := a.st.DeleteAccount(ctx, acct.Address); err != nil {
		return Account{}, accountErr(address, err)
	}
	return accountOf(acct), nil
}

// Accounts lists every account, by domain then address.
func (a *Admin) Accounts(ctx context.Context) ([]Account, error) {
	all, err := a.st.ListAccounts(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Account, 0, len(all))
	for _, acct := range all {
		out = append(out, accountOf(acct))
	}
	return out, nil
}

// accountView reads the account for a command's result.
func (a *Admin) accountView(ctx context.Context, address string) (Account, error) {
	acct, err := a.account(ctx, address)
	return accountOf(acct), err
}
