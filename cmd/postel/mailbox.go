package main

import (
	"fmt"
	"text/tabwriter"

	"postel/internal/store/sqlite"
)

func runMailboxList(e *env, args []string) error {
	return e.withStore(args, 1, 1, func(st *sqlite.Store, pos []string) error {
		a, err := st.Account(e.ctx, pos[0])
		if err != nil {
			return err
		}
		all, err := st.ListMailboxes(e.ctx, a.ID)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "MAILBOX\tROLE\tMESSAGES\tUNSEEN\tSIZE")
		for _, m := range all {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\n", m.Name, m.SpecialUse, m.Messages, m.Unseen, m.Size)
		}
		return tw.Flush()
	})
}

func runMailboxCreate(e *env, args []string) error {
	return e.withStore(args, 2, 2, func(st *sqlite.Store, pos []string) error {
		a, err := st.Account(e.ctx, pos[0])
		if err != nil {
			return err
		}
		_, err = st.CreateMailbox(e.ctx, a.ID, pos[1], "")
		return err
	})
}

// runMailboxDelete refuses special-use mailboxes (Sent, Drafts, Trash...)
// without --force: clients rely on them, and deleting one by a slip of the
// keyboard loses what they hold.
func runMailboxDelete(e *env, args []string) error {
	force := e.flags.Bool("force", false, "also delete a special-use mailbox (Sent, Drafts, Trash, Junk, Archive)")
	return e.withStore(args, 2, 2, func(st *sqlite.Store, pos []string) error {
		a, err := st.Account(e.ctx, pos[0])
		if err != nil {
			return err
		}
		m, err := st.Mailbox(e.ctx, a.ID, pos[1])
		if err != nil {
			return err
		}
		if m.SpecialUse != "" && !*force {
			return fmt.Errorf("%s is the %s mailbox of %s: add --force to delete it with its %d messages", m.Name, m.SpecialUse, a.Address, m.Messages)
		}
		if err := st.DeleteMailbox(e.ctx, a.ID, m.Name); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "deleted %s of %s (%d messages)\n", m.Name, a.Address, m.Messages)
		return nil
	})
}
