// Package junk decides, for one recipient account, whether an incoming
// message belongs in its Junk mailbox (RFC 6154 §2: \Junk), from what the
// user told the server and what the server's own checks (internal/msgauth)
// found. Every decision is explained in one header field, X-Postel-Junk;
// there is no opaque score.
//
// The user speaks in three ways: allow rules and block rules (postel junk
// allow|block), each an address ("bob@example.com") or a domain
// ("example.com", which covers its subdomains); and moving messages into
// or out of Junk over IMAP, which gives the From sender spam or ham marks
// (Filter.Train, called by internal/imapserver).
//
// Decide applies, in this order, the first step that decides:
//
//  1. Rules, the most specific first: the From address, then its domain,
//     then each parent domain ("a.b.example", "b.example", "example"). A
//     block rule puts the message in Junk. An allow rule keeps it out of
//     Junk, but only when the From domain was authenticated (DMARC-aligned
//     SPF or DKIM pass): an allow list must not let anyone forge a
//     friend's address into the INBOX. An allow rule that cannot apply
//     for that reason is noted in the explanation, and the next, less
//     specific rule is tried. So "block example.com" with "allow
//     bob@example.com" lets authenticated mail from bob through and keeps
//     the rest of example.com in Junk.
//  2. The sender's reputation: more spam marks than ham marks puts the
//     message in Junk, more ham than spam keeps it out; on a tie the
//     latest mark decides. When this overrides the server's checks, the
//     explanation says what they wanted.
//  3. The server's checks (Signals.PolicyJunk): Junk, with their reason.
//  4. Otherwise the message is not junk, and there is nothing to explain.
package junk

import (
	"context"
	"fmt"
	"strings"

	"postel/internal/store"
)

// Signals are what is known of a message when it is delivered.
type Signals struct {
	// From is the message's RFC5322.From address, lower case ("" when
	// none).
	From string
	// Authenticated says the From domain was authenticated: a
	// DMARC-aligned SPF or DKIM pass (RFC 7489 §3.1).
	Authenticated bool
	// PolicyJunk is non-empty when the server's checks want the message
	// in Junk: the reason, e.g. "quarantined by the DMARC policy of example.com".
	PolicyJunk string
}

// Decision is where a message goes and why.
type Decision struct {
	Junk bool
	// Reason explains the decision in words the user reads in the
	// X-Postel-Junk field; "" when there is nothing to explain.
	Reason string
}

// Filter decides with the rules and reputations of a store.JunkStore. It
// is safe for concurrent use.
type Filter struct {
	st store.JunkStore
}

// New returns a Filter over st.
func New(st store.JunkStore) *Filter { return &Filter{st: st} }

// Decide decides for the account accountID, in the order of the package
// comment. It fails only when the store does.
func (f *Filter) Decide(ctx context.Context, accountID int64, s Signals) (Decision, error) {
	policy := ""
	if s.PolicyJunk != "" {
		policy = " (policy said: " + s.PolicyJunk + ")"
	}
	var notes []string
	explain := func(reason string) string {
		return strings.Join(append([]string{reason}, notes...), "; ")
	}
	// A From the store cannot hold a rule or reputation for matches
	// nothing: only the policy speaks.
	from, err := store.CanonicalSender(s.From)
	if s.From != "" && err == nil {
		rules, err := f.st.JunkRules(ctx, accountID)
		if err != nil {
			return Decision{}, err
		}
		for _, r := range matching(rules, from) {
			if r.Kind == store.JunkBlock {
				return Decision{Junk: true, Reason: explain("you blocked " + r.Pattern)}, nil
			}
			if s.Authenticated {
				return Decision{Junk: false, Reason: explain("you allowed " + r.Pattern + policy)}, nil
			}
			notes = append(notes, "you allowed "+r.Pattern+", but this From address was not authenticated")
		}
		rep, err := f.st.Reputation(ctx, accountID, from)
		if err != nil {
			return Decision{}, err
		}
		if rep.Spam+rep.Ham > 0 {
			spam := rep.Spam > rep.Ham || rep.Spam == rep.Ham && rep.Last == store.MarkSpam
			reason := reputationReason(from, rep, spam)
			if !spam {
				reason += policy
			}
			return Decision{Junk: spam, Reason: explain(reason)}, nil
		}
	}
	if s.PolicyJunk != "" {
		return Decision{Junk: true, Reason: explain(s.PolicyJunk)}, nil
	}
	if len(notes) > 0 {
		return Decision{Junk: false, Reason: strings.Join(notes, "; ")}, nil
	}
	return Decision{}, nil
}

// Train gives sender one spam (or ham) mark in the account's reputations.
// A sender that is not an address is store.ErrInvalid.
func (f *Filter) Train(ctx context.Context, accountID int64, sender string, spam bool) error {
	addr, err := store.CanonicalSender(sender)
	if err != nil {
		return err
	}
	return f.st.TrainSender(ctx, accountID, addr, spam)
}

// matching returns the rules that match from (a canonical address), the
// most specific first: the address, its domain, then each parent domain.
func matching(rules []store.JunkRule, from string) []store.JunkRule {
	if len(rules) == 0 {
		return nil
	}
	byPattern := make(map[string]store.JunkRule, len(rules))
	for _, r := range rules {
		byPattern[r.Pattern] = r
	}
	var out []store.JunkRule
	if r, ok := byPattern[from]; ok {
		out = append(out, r)
	}
	for d := store.DomainOf(from); d != ""; {
		if r, ok := byPattern[d]; ok {
			out = append(out, r)
		}
		_, parent, ok := strings.Cut(d, ".")
		if !ok {
			break
		}
		d = parent
	}
	return out
}

// reputationReason says what the user did with the sender's messages,
// the marks that decided first.
func reputationReason(from string, rep store.SenderReputation, spam bool) string {
	decided, other := rep.Spam, rep.Ham
	way, otherWay := "to Junk", "out of Junk"
	if !spam {
		decided, other = rep.Ham, rep.Spam
		way, otherWay = otherWay, way
	}
	reason := fmt.Sprintf("you moved %s from %s %s", messages(decided), from, way)
	if other > 0 {
		reason += fmt.Sprintf(" and %d %s", other, otherWay)
	}
	if decided == other {
		reason += ", the latest " + way
	}
	return reason
}

func messages(n int) string {
	if n == 1 {
		return "1 earlier message"
	}
	return fmt.Sprintf("%d earlier messages", n)
}
