package main

import (
	"errors"
	"fmt"
	"text/tabwriter"

	"postel/internal/store"
	"postel/internal/store/sqlite"
)

// The junk commands edit what an account's user tells the junk filter
// (internal/junk): allow and block rules, and the reputations the user
// taught by moving mail into and out of Junk over IMAP.

func runJunkAllow(e *env, args []string) error   { return addJunkRule(e, args, store.JunkAllow) }
func runJunkBlock(e *env, args []string) error   { return addJunkRule(e, args, store.JunkBlock) }
func runJunkUnallow(e *env, args []string) error { return deleteJunkRule(e, args, store.JunkAllow) }
func runJunkUnblock(e *env, args []string) error { return deleteJunkRule(e, args, store.JunkBlock) }

// junkAccount is the account named on the command line.
func junkAccount(e *env, st *sqlite.Store, address string) (store.Account, error) {
	a, err := st.Account(e.ctx, address)
	if errors.Is(err, store.ErrNotFound) {
		return a, fmt.Errorf("no account %s", address)
	}
	return a, err
}

// junkPattern checks a pattern given on the command line.
func junkPattern(p string) (string, error) {
	c, err := store.CanonicalJunkPattern(p)
	if err != nil {
		return "", usageError{fmt.Sprintf("bad pattern %q: want an address (user@example.com) or a domain (example.com, which also covers its subdomains)", p)}
	}
	return c, nil
}

// unverb is the command that removes a rule of kind.
func unverb(kind string) string { return "un" + kind }

func addJunkRule(e *env, args []string, kind string) error {
	return e.withStore(args, 2, 2, func(st *sqlite.Store, pos []string) error {
		pattern, err := junkPattern(pos[1])
		if err != nil {
			return err
		}
		a, err := junkAccount(e, st, pos[0])
		if err != nil {
			return err
		}
		err = st.AddJunkRule(e.ctx, a.ID, kind, pattern)
		if errors.Is(err, store.ErrExists) {
			rules, lerr := st.JunkRules(e.ctx, a.ID)
			if lerr != nil {
				return err
			}
			for _, r := range rules {
				if r.Pattern == pattern {
					return fmt.Errorf("%s already has the rule %s %s (postel junk %s %s %s removes it)",
						a.Address, r.Kind, pattern, unverb(r.Kind), a.Address, pattern)
				}
			}
			return err
		} else if err != nil {
			return err
		}
		switch kind {
		case store.JunkAllow:
			fmt.Fprintf(e.stdout, "%s: allowed %s (mail whose From is authenticated stays out of Junk)\n", a.Address, pattern)
		default:
			fmt.Fprintf(e.stdout, "%s: blocked %s (its mail goes to Junk)\n", a.Address, pattern)
		}
		return nil
	})
}

func deleteJunkRule(e *env, args []string, kind string) error {
	return e.withStore(args, 2, 2, func(st *sqlite.Store, pos []string) error {
		pattern, err := junkPattern(pos[1])
		if err != nil {
			return err
		}
		a, err := junkAccount(e, st, pos[0])
		if err != nil {
			return err
		}
		err = st.DeleteJunkRule(e.ctx, a.ID, kind, pattern)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%s has no rule %s %s (postel junk list %s shows the rules)", a.Address, kind, pattern, a.Address)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s: removed the rule %s %s\n", a.Address, kind, pattern)
		return nil
	})
}

func runJunkList(e *env, args []string) error {
	return e.withStore(args, 1, 1, func(st *sqlite.Store, pos []string) error {
		a, err := junkAccount(e, st, pos[0])
		if err != nil {
			return err
		}
		rules, err := st.JunkRules(e.ctx, a.ID)
		if err != nil {
			return err
		}
		reps, err := st.Reputations(e.ctx, a.ID)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
		if len(rules) == 0 {
			fmt.Fprintln(tw, "no allow or block rules")
		} else {
			fmt.Fprintln(tw, "RULE\tPATTERN\tADDED")
			for _, r := range rules {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Kind, r.Pattern, r.Created.UTC().Format("2006-01-02"))
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout)
		if len(reps) == 0 {
			fmt.Fprintln(tw, "no senders moved into or out of Junk")
		} else {
			fmt.Fprintln(tw, "SENDER\tSPAM\tHAM\tLAST\tUPDATED")
			for _, r := range reps {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", r.Sender, r.Spam, r.Ham, r.Last, r.Updated.UTC().Format("2006-01-02 15:04"))
			}
		}
		return tw.Flush()
	})
}

func runJunkForget(e *env, args []string) error {
	return e.withStore(args, 2, 2, func(st *sqlite.Store, pos []string) error {
		sender, err := store.CanonicalSender(pos[1])
		if err != nil {
			return usageError{fmt.Sprintf("bad sender %q: want an address (user@example.com)", pos[1])}
		}
		a, err := junkAccount(e, st, pos[0])
		if err != nil {
			return err
		}
		r, err := st.Reputation(e.ctx, a.ID, sender)
		if err != nil {
			return err
		}
		err = st.ClearReputation(e.ctx, a.ID, sender)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%s has no reputation for %s", a.Address, sender)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s: forgot %s (%d spam, %d ham)\n", a.Address, sender, r.Spam, r.Ham)
		return nil
	})
}
