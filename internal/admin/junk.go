package admin

import (
	"context"
	"errors"
	"time"

	"postel/internal/store"
)

// The junk commands edit what an account's user tells the junk filter
// (internal/junk): allow and block rules, and the reputations the user
// taught by moving mail into and out of Junk over IMAP.

// JunkRule is one allow or block rule of an account.
type JunkRule struct {
	Account string    `json:"account"`
	Kind    string    `json:"kind"` // allow or block
	Pattern string    `json:"pattern"`
	Created time.Time `json:"created"`
}

// Reputation is what an account's user taught about a sender.
type Reputation struct {
	Account string    `json:"account,omitempty"` // set by ForgetSender
	Sender  string    `json:"sender"`
	Spam    int       `json:"spam"`
	Ham     int       `json:"ham"`
	Last    string    `json:"last"` // spam or ham
	Updated time.Time `json:"updated"`
}

// JunkList is an account's rules and the senders its user moved into or
// out of Junk.
type JunkList struct {
	Account string       `json:"account"`
	Rules   []JunkRule   `json:"rules"`
	Senders []Reputation `json:"senders"`
}

// JunkPattern checks a rule's pattern: an address, or a domain that also
// covers its subdomains; the CLI checks it before it asks.
func JunkPattern(p string) (string, error) {
	c, err := store.CanonicalJunkPattern(p)
	if err != nil {
		return "", refusal(KindInvalid, "bad pattern %q: want an address (user@example.com) or a domain (example.com, which also covers its subdomains)", p)
	}
	return c, nil
}

// JunkSender checks a sender address.
func JunkSender(s string) (string, error) {
	c, err := store.CanonicalSender(s)
	if err != nil {
		return "", refusal(KindInvalid, "bad sender %q: want an address (user@example.com)", s)
	}
	return c, nil
}

// unverb is the command that removes a rule of kind.
func unverb(kind string) string { return "un" + kind }

// AddJunkRule adds an allow or block rule (kind store.JunkAllow or
// store.JunkBlock) to an account.
func (a *Admin) AddJunkRule(ctx context.Context, account, kind, pattern string) (JunkRule, error) {
	js, err := a.junkStore()
	if err != nil {
		return JunkRule{}, err
	}
	if kind != store.JunkAllow && kind != store.JunkBlock {
		return JunkRule{}, refusal(KindInvalid, "bad rule kind %q: want allow or block", kind)
	}
	p, err := JunkPattern(pattern)
	if err != nil {
		return JunkRule{}, err
	}
	acct, err := a.account(ctx, account)
	if err != nil {
		return JunkRule{}, err
	}
	err = js.AddJunkRule(ctx, acct.ID, kind, p)
	switch {
	case errors.Is(err, store.ErrExists):
		rules, lerr := js.JunkRules(ctx, acct.ID)
		if lerr != nil {
			return JunkRule{}, err
		}
		for _, r := range rules {
			if r.Pattern == p {
				return JunkRule{}, refusal(KindExists, "%s already has the rule %s %s (postel junk %s %s %s removes it)",
					acct.Address, r.Kind, p, unverb(r.Kind), acct.Address, p)
			}
		}
		return JunkRule{}, err
	case errors.Is(err, store.ErrQuota):
		return JunkRule{}, refusal(KindRefused, "%s has too many junk rules", acct.Address)
	case err != nil:
		return JunkRule{}, err
	}
	return JunkRule{Account: acct.Address, Kind: kind, Pattern: p, Created: time.Now().UTC().Truncate(time.Second)}, nil
}

// DeleteJunkRule removes a rule of kind from an account.
func (a *Admin) DeleteJunkRule(ctx context.Context, account, kind, pattern string) (JunkRule, error) {
	js, err := a.junkStore()
	if err != nil {
		return JunkRule{}, err
	}
	p, err := JunkPattern(pattern)
	if err != nil {
		return JunkRule{}, err
	}
	acct, err := a.account(ctx, account)
	if err != nil {
		return JunkRule{}, err
	}
	err = js.DeleteJunkRule(ctx, acct.ID, kind, p)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return JunkRule{}, refusal(KindNotFound, "%s has no rule %s %s (postel junk list %s shows the rules)", acct.Address, kind, p, acct.Address)
	} else if err != nil {
		return JunkRule{}, err
	}
	return JunkRule{Account: acct.Address, Kind: kind, Pattern: p}, nil
}

// JunkList lists an account's rules and reputations.
func (a *Admin) JunkList(ctx context.Context, account string) (JunkList, error) {
	js, err := a.junkStore()
	if err != nil {
		return JunkList{}, err
	}
	acct, err := a.account(ctx, account)
	if err != nil {
		return JunkList{}, err
	}
	rules, err := js.JunkRules(ctx, acct.ID)
	if err != nil {
		return JunkList{}, err
	}
	reps, err := js.Reputations(ctx, acct.ID)
	if err != nil {
		return JunkList{}, err
	}
	out := JunkList{Account: acct.Address, Rules: []JunkRule{}, Senders: []Reputation{}}
	for _, r := range rules {
		out.Rules = append(out.Rules, JunkRule{Account: acct.Address, Kind: r.Kind, Pattern: r.Pattern, Created: r.Created.UTC()})
	}
	for _, r := range reps {
		out.Senders = append(out.Senders, Reputation{Sender: r.Sender, Spam: r.Spam, Ham: r.Ham, Last: r.Last, Updated: r.Updated.UTC()})
	}
	return out, nil
}

// ForgetSender forgets what an account's user taught about a sender and
// returns what was forgotten.
func (a *Admin) ForgetSender(ctx context.Context, account, sender string) (Reputation, error) {
	js, err := a.junkStore()
	if err != nil {
		return Reputation{}, err
	}
	s, err := JunkSender(sender)
	if err != nil {
		return Reputation{}, err
	}
	acct, err := a.account(ctx, account)
	if err != nil {
		return Reputation{}, err
	}
	r, err := js.Reputation(ctx, acct.ID, s)
	if err != nil {
		return Reputation{}, err
	}
	err = js.ClearReputation(ctx, acct.ID, s)
	if errors.Is(err, store.ErrNotFound) {
		return Reputation{}, refusal(KindNotFound, "%s has no reputation for %s", acct.Address, s)
	} else if err != nil {
		return Reputation{}, err
	}
	return Reputation{Account: acct.Address, Sender: s, Spam: r.Spam, Ham: r.Ham, Last: r.Last, Updated: r.Updated.UTC()}, nil
}
