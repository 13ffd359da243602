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

func runMailboxACL(e *env, args []string) error {
	asJSON := e.jsonFlag()
	pos, err := e.parse(args, 2, 2)
	if err != nil {
		return err
	}
	var acl admin.ACL
	if err := e.call("mailbox acl", admin.ACLArgs{Account: pos[0], Name: pos[1]}, &acl); err != nil {
		return err
	}
	if *asJSON {
		return e.printJSON(acl)
	}
	return printACL(e, acl)
}

// printACL writes an access control list as mailbox acl, share and
// unshare show it: one identifier and its rights a line, the owner first.
func printACL(e *env, acl admin.ACL) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "IDENTIFIER\tRIGHTS")
	for _, en := range acl.Entries {
		fmt.Fprintf(tw, "%s\t%s\n", en.Identifier, en.Rights)
	}
	return tw.Flush()
}

// runMailboxShare sets the grantee's rights as IMAP SETACL does (RFC
// 4314); IMAP sessions of the grantee see the change at their next
// command when a server runs.
func runMailboxShare(e *env, args []string) error {
	pos, err := e.parse(args, 4, 4)
	if err != nil {
		return err
	}
	var acl admin.ACL
	if err := e.call("mailbox share", admin.ACLArgs{Account: pos[0], Name: pos[1], Grantee: pos[2], Rights: pos[3]}, &acl); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "shared %s of %s\n", acl.Mailbox, acl.Account)
	return printACL(e, acl)
}

func runMailboxUnshare(e *env, args []string) error {
	pos, err := e.parse(args, 3, 3)
	if err != nil {
		return err
	}
	var acl admin.ACL
	if err := e.call("mailbox unshare", admin.ACLArgs{Account: pos[0], Name: pos[1], Grantee: pos[2]}, &acl); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "unshared %s of %s with %s\n", acl.Mailbox, acl.Account, pos[2])
	return printACL(e, acl)
}
