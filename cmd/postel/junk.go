package main

import (
	"fmt"
	"text/tabwriter"

	"postel/internal/admin"
)

// The junk commands edit what an account's user tells the junk filter
// (internal/junk): allow and block rules, and the reputations the user
// taught by moving mail into and out of Junk over IMAP.

func runJunkAllow(e *env, args []string) error   { return junkRule(e, args, "junk allow") }
func runJunkBlock(e *env, args []string) error   { return junkRule(e, args, "junk block") }
func runJunkUnallow(e *env, args []string) error { return junkRule(e, args, "junk unallow") }
func runJunkUnblock(e *env, args []string) error { return junkRule(e, args, "junk unblock") }

// junkRule runs one of the rule commands on ACCOUNT PATTERN; a malformed
// pattern is a mistake on the command line.
func junkRule(e *env, args []string, name string) error {
	pos, err := e.parse(args, 2, 2)
	if err != nil {
		return err
	}
	if _, err := admin.JunkPattern(pos[1]); err != nil {
		return usageError{err.Error()}
	}
	var r admin.JunkRule
	if err := e.call(name, admin.JunkArgs{Account: pos[0], Pattern: pos[1]}, &r); err != nil {
		return err
	}
	switch name {
	case "junk allow":
		fmt.Fprintf(e.stdout, "%s: allowed %s (mail whose From is authenticated stays out of Junk)\n", r.Account, r.Pattern)
	case "junk block":
		fmt.Fprintf(e.stdout, "%s: blocked %s (its mail goes to Junk)\n", r.Account, r.Pattern)
	default:
		fmt.Fprintf(e.stdout, "%s: removed the rule %s %s\n", r.Account, r.Kind, r.Pattern)
	}
	return nil
}

func runJunkList(e *env, args []string) error {
	asJSON := e.jsonFlag()
	pos, err := e.parse(args, 1, 1)
	if err != nil {
		return err
	}
	var l admin.JunkList
	if err := e.call("junk list", admin.AddressArgs{Address: pos[0]}, &l); err != nil {
		return err
	}
	if *asJSON {
		return e.printJSON(l)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
	if len(l.Rules) == 0 {
		fmt.Fprintln(tw, "no allow or block rules")
	} else {
		fmt.Fprintln(tw, "RULE\tPATTERN\tADDED")
		for _, r := range l.Rules {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Kind, r.Pattern, r.Created.UTC().Format("2006-01-02"))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout)
	if len(l.Senders) == 0 {
		fmt.Fprintln(tw, "no senders moved into or out of Junk")
	} else {
		fmt.Fprintln(tw, "SENDER\tSPAM\tHAM\tLAST\tUPDATED")
		for _, r := range l.Senders {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", r.Sender, r.Spam, r.Ham, r.Last, r.Updated.UTC().Format("2006-01-02 15:04"))
		}
	}
	return tw.Flush()
}

func runJunkForget(e *env, args []string) error {
	pos, err := e.parse(args, 2, 2)
	if err != nil {
		return err
	}
	if _, err := admin.JunkSender(pos[1]); err != nil {
		return usageError{err.Error()}
	}
	var r admin.Reputation
	if err := e.call("junk forget", admin.JunkArgs{Account: pos[0], Sender: pos[1]}, &r); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: forgot %s (%d spam, %d ham)\n", r.Account, r.Sender, r.Spam, r.Ham)
	return nil
}
