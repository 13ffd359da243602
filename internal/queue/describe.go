package queue

import (
	"fmt"
	"strings"
	"time"

	"postel/internal/store"
)

// List formats queue entries for "postel queue list": one line each with
// its id, age, size, attempts, next attempt, sender and pending recipients.
func List(entries []store.QueueEntry, now time.Time) string {
	if len(entries) == 0 {
		return "queue is empty\n"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-8s %-8s %9s %4s %-9s %s\n", "ID", "AGE", "SIZE", "TRY", "NEXT", "FROM -> PENDING")
	for _, e := range entries {
		var pending []string
		for _, r := range e.Recipients {
			if r.Status == "pending" {
				pending = append(pending, clean(r.Address))
			}
		}
		next := "now"
		if !e.LeaseUntil.IsZero() && e.LeaseUntil.After(now) {
			next = "sending"
		} else if e.NextAttempt.After(now) {
			next = short(e.NextAttempt.Sub(now))
		}
		fmt.Fprintf(&b, "%-8d %-8s %9d %4d %-9s <%s> -> %s\n", e.ID, short(now.Sub(e.Created)), e.Size, e.Attempts, next,
			clean(e.From), strings.Join(pending, ", "))
	}
	return b.String()
}

// Describe formats one entry for "postel queue show ID": the envelope, and
// per recipient its status, attempts and last reply.
func Describe(e store.QueueEntry, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Queue ID:     %d\n", e.ID)
	fmt.Fprintf(&b, "From:         <%s>\n", clean(e.From))
	if e.AccountID != 0 {
		fmt.Fprintf(&b, "Account ID:   %d\n", e.AccountID)
	}
	fmt.Fprintf(&b, "Size:         %d bytes\n", e.Size)
	fmt.Fprintf(&b, "Queued:       %s (%s ago)\n", e.Created.Format(time.RFC3339), short(now.Sub(e.Created)))
	fmt.Fprintf(&b, "Attempts:     %d\n", e.Attempts)
	fmt.Fprintf(&b, "Next attempt: %s\n", e.NextAttempt.Format(time.RFC3339))
	if !e.LeaseUntil.IsZero() && e.LeaseUntil.After(now) {
		fmt.Fprintf(&b, "Leased until: %s (being sent)\n", e.LeaseUntil.Format(time.RFC3339))
	}
	var opts []string
	if e.RequireTLS {
		opts = append(opts, "REQUIRETLS")
	}
	if e.SMTPUTF8 {
		opts = append(opts, "SMTPUTF8")
	}
	if e.Body8Bit {
		opts = append(opts, "8BITMIME")
	}
	if e.DSNRet != "" {
		opts = append(opts, "RET="+clean(e.DSNRet))
	}
	if e.DSNEnvID != "" {
		opts = append(opts, "ENVID="+clean(e.DSNEnvID))
	}
	if len(opts) > 0 {
		fmt.Fprintf(&b, "Options:      %s\n", strings.Join(opts, " "))
	}
	for _, r := range e.Recipients {
		fmt.Fprintf(&b, "\nRecipient:    <%s>\n", clean(r.Address))
		fmt.Fprintf(&b, "  Status:     %s\n", r.Status)
		fmt.Fprintf(&b, "  Attempts:   %d\n", r.Attempts)
		if r.LastReply != "" {
			fmt.Fprintf(&b, "  Last reply: %s\n", clean(r.LastReply))
		}
		if len(r.Notify) > 0 {
			fmt.Fprintf(&b, "  Notify:     %s\n", clean(strings.Join(r.Notify, ",")))
		}
		if r.ORcpt != "" {
			fmt.Fprintf(&b, "  ORCPT:      %s\n", clean(r.ORcpt))
		}
	}
	return b.String()
}

// short formats a duration to the minute, or the second under a minute.
func short(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
