package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"postel/internal/store"
)

// The arguments of the commands, as JSON objects.
type (
	// AddressArgs name an account (user passwd, unlock, disable, enable,
	// del; mailbox list; junk list).
	AddressArgs struct {
		Address string `json:"address"`
	}
	// NewAccountArgs: user add.
	NewAccountArgs struct {
		Address     string      `json:"address"`
		Credentials Credentials `json:"credentials"`
		Quota       int64       `json:"quota,omitempty"`
	}
	// PasswordArgs: user passwd.
	PasswordArgs struct {
		Address     string      `json:"address"`
		Credentials Credentials `json:"credentials"`
	}
	// QuotaArgs: user quota.
	QuotaArgs struct {
		Address string `json:"address"`
		Bytes   int64  `json:"bytes"`
	}
	// DomainArgs: domain add, domain del, dkim gen, dkim show.
	DomainArgs struct {
		Domain string `json:"domain"`
	}
	// AliasArgs: alias add (targets), alias del (one target or none).
	AliasArgs struct {
		Address string   `json:"address"`
		Targets []string `json:"targets,omitempty"`
	}
	// MailboxArgs: mailbox create, mailbox delete.
	MailboxArgs struct {
		Account string `json:"account"`
		Name    string `json:"name"`
		Force   bool   `json:"force,omitempty"`
	}
	// ACLArgs: mailbox acl (Account, Name), mailbox share (and Grantee,
	// Rights), mailbox unshare (and Grantee).
	ACLArgs struct {
		Account string `json:"account"`
		Name    string `json:"name"`
		Grantee string `json:"grantee,omitempty"`
		Rights  string `json:"rights,omitempty"`
	}
	// QueueArgs: queue show, retry, drop.
	QueueArgs struct {
		ID int64 `json:"id"`
	}
	// JunkArgs: junk allow, block, unallow, unblock (Pattern), forget
	// (Sender).
	JunkArgs struct {
		Account string `json:"account"`
		Pattern string `json:"pattern,omitempty"`
		Sender  string `json:"sender,omitempty"`
	}
	// NoArgs: the list commands and queue kick.
	NoArgs struct{}
)

// command runs one named command on JSON arguments.
type command func(ctx context.Context, a *Admin, args json.RawMessage) (any, error)

// commands is the one table of admin commands, by the name the CLI and the
// control socket give them.
var commands = map[string]command{
	"user add": with(func(ctx context.Context, a *Admin, x NewAccountArgs) (Account, error) {
		return a.AddAccount(ctx, x.Address, x.Credentials, x.Quota)
	}),
	"user passwd": with(func(ctx context.Context, a *Admin, x PasswordArgs) (Account, error) {
		return a.SetPassword(ctx, x.Address, x.Credentials)
	}),
	"user unlock": with(func(ctx context.Context, a *Admin, x AddressArgs) (Account, error) { return a.Unlock(ctx, x.Address) }),
	"user quota": with(func(ctx context.Context, a *Admin, x QuotaArgs) (Account, error) {
		return a.SetQuota(ctx, x.Address, x.Bytes)
	}),
	"user disable": with(func(ctx context.Context, a *Admin, x AddressArgs) (Account, error) {
		return a.SetDisabled(ctx, x.Address, true)
	}),
	"user enable": with(func(ctx context.Context, a *Admin, x AddressArgs) (Account, error) {
		return a.SetDisabled(ctx, x.Address, false)
	}),
	"user del": with(func(ctx context.Context, a *Admin, x AddressArgs) (Account, error) {
		return a.DeleteAccount(ctx, x.Address)
	}),
	"user list": with(func(ctx context.Context, a *Admin, _ NoArgs) ([]Account, error) { return a.Accounts(ctx) }),

	"domain add": with(func(ctx context.Context, a *Admin, x DomainArgs) (Domain, error) { return a.AddDomain(ctx, x.Domain) }),
	"domain del": with(func(ctx context.Context, a *Admin, x DomainArgs) (Domain, error) {
		return a.DeleteDomain(ctx, x.Domain)
	}),
	"domain list": with(func(ctx context.Context, a *Admin, _ NoArgs) ([]Domain, error) { return a.Domains(ctx) }),

	"alias add": with(func(ctx context.Context, a *Admin, x AliasArgs) (Alias, error) {
		return a.AddAlias(ctx, x.Address, x.Targets)
	}),
	"alias del": with(func(ctx context.Context, a *Admin, x AliasArgs) (Alias, error) {
		switch len(x.Targets) {
		case 0:
			return a.DeleteAlias(ctx, x.Address, "")
		case 1:
			return a.DeleteAlias(ctx, x.Address, x.Targets[0])
		}
		return Alias{}, refusal(KindInvalid, "alias del takes one target or none")
	}),
	"alias list": with(func(ctx context.Context, a *Admin, _ NoArgs) ([]Alias, error) { return a.Aliases(ctx) }),

	"mailbox list": with(func(ctx context.Context, a *Admin, x AddressArgs) ([]Mailbox, error) {
		return a.Mailboxes(ctx, x.Address)
	}),
	"mailbox create": with(func(ctx context.Context, a *Admin, x MailboxArgs) (Mailbox, error) {
		return a.CreateMailbox(ctx, x.Account, x.Name)
	}),
	"mailbox delete": with(func(ctx context.Context, a *Admin, x MailboxArgs) (Mailbox, error) {
		return a.DeleteMailbox(ctx, x.Account, x.Name, x.Force)
	}),
	"mailbox acl": with(func(ctx context.Context, a *Admin, x ACLArgs) (ACL, error) {
		return a.MailboxACL(ctx, x.Account, x.Name)
	}),
	"mailbox share": with(func(ctx context.Context, a *Admin, x ACLArgs) (ACL, error) {
		return a.ShareMailbox(ctx, x.Account, x.Name, x.Grantee, x.Rights)
	}),
	"mailbox unshare": with(func(ctx context.Context, a *Admin, x ACLArgs) (ACL, error) {
		return a.UnshareMailbox(ctx, x.Account, x.Name, x.Grantee)
	}),

	"queue list":  with(func(ctx context.Context, a *Admin, _ NoArgs) ([]QueueEntry, error) { return a.Queue(ctx) }),
	"queue show":  with(func(ctx context.Context, a *Admin, x QueueArgs) (QueueEntry, error) { return a.QueueEntry(ctx, x.ID) }),
	"queue retry": with(func(ctx context.Context, a *Admin, x QueueArgs) (QueueRetry, error) { return a.RetryQueued(ctx, x.ID) }),
	"queue drop":  with(func(ctx context.Context, a *Admin, x QueueArgs) (QueueEntry, error) { return a.DropQueued(ctx, x.ID) }),
	"queue kick": with(func(ctx context.Context, a *Admin, _ NoArgs) (struct{}, error) {
		return struct{}{}, a.KickQueue(ctx)
	}),
	"reload": with(func(ctx context.Context, a *Admin, _ NoArgs) (struct{}, error) {
		return struct{}{}, a.Reload(ctx)
	}),

	"junk allow": with(func(ctx context.Context, a *Admin, x JunkArgs) (JunkRule, error) {
		return a.AddJunkRule(ctx, x.Account, store.JunkAllow, x.Pattern)
	}),
	"junk block": with(func(ctx context.Context, a *Admin, x JunkArgs) (JunkRule, error) {
		return a.AddJunkRule(ctx, x.Account, store.JunkBlock, x.Pattern)
	}),
	"junk unallow": with(func(ctx context.Context, a *Admin, x JunkArgs) (JunkRule, error) {
		return a.DeleteJunkRule(ctx, x.Account, store.JunkAllow, x.Pattern)
	}),
	"junk unblock": with(func(ctx context.Context, a *Admin, x JunkArgs) (JunkRule, error) {
		return a.DeleteJunkRule(ctx, x.Account, store.JunkBlock, x.Pattern)
	}),
	"junk list": with(func(ctx context.Context, a *Admin, x AddressArgs) (JunkList, error) {
		return a.JunkList(ctx, x.Address)
	}),
	"junk forget": with(func(ctx context.Context, a *Admin, x JunkArgs) (Reputation, error) {
		return a.ForgetSender(ctx, x.Account, x.Sender)
	}),

	"dkim gen": with(func(ctx context.Context, a *Admin, x DomainArgs) (DKIMKeys, error) {
		return a.GenerateDKIM(ctx, x.Domain)
	}),
	"dkim show": with(func(ctx context.Context, a *Admin, x DomainArgs) (DKIMKeys, error) {
		return a.DKIMRecords(ctx, x.Domain)
	}),
}

// with adapts a typed command: arguments decoded strictly (an unknown
// field is a mistake of the caller, not something to ignore).
func with[A, R any](fn func(context.Context, *Admin, A) (R, error)) command {
	return func(ctx context.Context, a *Admin, raw json.RawMessage) (any, error) {
		var args A
		if len(raw) > 0 {
			d := json.NewDecoder(bytes.NewReader(raw))
			d.DisallowUnknownFields()
			if err := d.Decode(&args); err != nil {
				return nil, refusal(KindInvalid, "bad arguments: %v", err)
			}
		}
		return fn(ctx, a, args)
	}
}

// Commands lists the names of the commands, sorted.
func Commands() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Exec runs the command called name with its JSON arguments and returns
// its JSON result. The CLI calls it on the store when no server runs; the
// control socket calls it in the server.
func (a *Admin) Exec(ctx context.Context, name string, args json.RawMessage) (json.RawMessage, error) {
	cmd, ok := commands[name]
	if !ok {
		return nil, refusal(KindInvalid, "unknown admin command %q", name)
	}
	res, err := cmd(ctx, a, args)
	if err != nil {
		return nil, err
	}
	out, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("admin: encoding the result of %s: %w", name, err)
	}
	return out, nil
}
