package main

import (
	"fmt"
	"text/tabwriter"

	"postel/internal/admin"
)

func runMailboxList(e *env, args []string) error {
	asJSON := e.jsonFlag()
	pos, err := e.parse(args, 1, 1)
	if err != nil {
		return err
	}
	var all []admin.Mailbox
	if err := e.call("mailbox list", admin.AddressArgs{Address: pos[0]}, &all); err != nil {
		return err
	}
	if *asJSON {
		return e.printJSON(all)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "MAILBOX\tROLE\tMESSAGES\tUNSEEN\tSIZE")
	for _, m := range all {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\n", m.Name, m.Role, m.Messages, m.Unseen, m.Size)
	}
	return tw.Flush()
}

func runMailboxCreate(e *env, args []string) error {
	pos, err := e.parse(args, 2, 2)
	if err != nil {
		return err
	}
	var m admin.Mailbox
	if err := e.call("mailbox create", admin.MailboxArgs{Account: pos[0], Name: pos[1]}, &m); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "created %s of %s\n", m.Name, m.Account)
	return nil
}

// runMailboxDelete refuses special-use mailboxes (Sent, Drafts, Trash...)
// without --force (admin.DeleteMailbox). IMAP sessions that have the
// mailbox selected end when a server runs.
func runMailboxDelete(e *env, args []string) error {
	force := e.flags.Bool("force", false, "also delete a special-use mailbox (Sent, Drafts, Trash, Junk, Archive)")
	pos, err := e.parse(args, 2, 2)
	if err != nil {
		return err
	}
	var m admin.Mailbox
	if err := e.call("mailbox delete", admin.MailboxArgs{Account: pos[0], Name: pos[1], Force: *force}, &m); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "deleted %s of %s (%d messages)\n", m.Name, m.Account, m.Messages)
	return nil
}
