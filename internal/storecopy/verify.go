package storecopy

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"postel/internal/store"
)

// maxDiffs bounds the differences an error lists.
const maxDiffs = 20

// diffs collects the differences the verification finds.
type diffs struct {
	list []string
	n    int
}

func (d *diffs) add(format string, args ...any) {
	d.n++
	if len(d.list) < maxDiffs {
		d.list = append(d.list, fmt.Sprintf(format, args...))
	}
}

// check adds a difference when got (the target's) is not want (the
// source's).
func check[T comparable](d *diffs, what string, want, got T) {
	if want != got {
		d.add("%s: %v in the source, %v in the target", what, want, got)
	}
}

func (d *diffs) err() error {
	if d.n == 0 {
		return nil
	}
	more := ""
	if d.n > len(d.list) {
		more = fmt.Sprintf("\n  ... and %d more", d.n-len(d.list))
	}
	return fmt.Errorf("%w: %d differences:\n  %s%s", ErrDifferent, d.n, strings.Join(d.list, "\n  "), more)
}

// verify re-reads both stores and compares them; it fills the report's
// counts from the source.
func (c *copier) verify(ctx context.Context) error {
	d := &diffs{}
	steps := []func(context.Context, *diffs) error{c.verifyDomains, c.verifyAliases, c.verifyAccounts, c.verifyQueue, c.verifyFiles}
	for _, step := range steps {
		if err := step(ctx, d); err != nil {
			return fmt.Errorf("storecopy: verifying: %w", err)
		}
	}
	c.rep.Verified = d.n == 0
	return d.err()
}

// verifyFiles checks that a target carrying the data dir's secrets holds
// each of Options.Files, byte for byte.
func (c *copier) verifyFiles(ctx context.Context, d *diffs) error {
	sf, ok := c.to.(store.SharedFiles)
	if !ok {
		return nil
	}
	got, err := sf.SharedFiles(ctx)
	if err != nil {
		return err
	}
	c.rep.Files = nil
	for _, name := range slices.Sorted(maps.Keys(c.opts.Files)) {
		if have, ok := got[name]; !ok {
			d.add("data dir file %s: missing in the target", name)
		} else if string(have) != string(c.opts.Files[name]) {
			d.add("data dir file %s: other contents in the target", name)
		} else {
			c.rep.Files = append(c.rep.Files, name)
		}
	}
	return nil
}

func (c *copier) verifyDomains(ctx context.Context, d *diffs) error {
	src, err := c.from.ListDomains(ctx)
	if err != nil {
		return err
	}
	dst, err := c.to.ListDomains(ctx)
	if err != nil {
		return err
	}
	c.rep.Domains = len(src)
	checkSet(d, "domains", src, dst, func(x store.Domain) string { return x.Name })
	return nil
}

// checkSet adds a difference for each key of one list missing in the
// other: what the source has and the target lacks, and the reverse.
func checkSet[T any](d *diffs, what string, src, dst []T, key func(T) string) {
	in := func(xs []T) map[string]bool {
		m := make(map[string]bool, len(xs))
		for _, x := range xs {
			m[key(x)] = true
		}
		return m
	}
	s, t := in(src), in(dst)
	for _, k := range slices.Sorted(maps.Keys(s)) {
		if !t[k] {
			d.add("%s: %s is missing in the target", what, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(t)) {
		if !s[k] {
			d.add("%s: %s is in the target only", what, k)
		}
	}
}

func (c *copier) verifyAliases(ctx context.Context, d *diffs) error {
	src, err := c.from.ListAliases(ctx)
	if err != nil {
		return err
	}
	dst, err := c.to.ListAliases(ctx)
	if err != nil {
		return err
	}
	c.rep.Aliases = len(src)
	key := func(a store.Alias) string {
		t := slices.Sorted(slices.Values(a.Targets))
		return a.Address + "->" + strings.Join(t, ",")
	}
	checkSet(d, "aliases", src, dst, key)
	return nil
}

func (c *copier) verifyAccounts(ctx context.Context, d *diffs) error {
	src, err := c.from.ListAccounts(ctx)
	if err != nil {
		return err
	}
	dst, err := c.to.ListAccounts(ctx)
	if err != nil {
		return err
	}
	c.rep.Accounts = len(src)
	checkSet(d, "accounts", src, dst, func(a store.Account) string { return a.Address })
	byAddr := map[string]store.Account{}
	for _, a := range dst {
		byAddr[a.Address] = a
	}
	for _, a := range src {
		b, ok := byAddr[a.Address]
		if !ok {
			continue
		}
		what := "account " + a.Address
		check(d, what+" credentials", a.Credentials, b.Credentials)
		check(d, what+" quota", a.QuotaBytes, b.QuotaBytes)
		check(d, what+" disabled", a.Disabled, b.Disabled)
		check(d, what+" auth epoch", a.AuthEpoch, b.AuthEpoch)
		check(d, what+" created", a.Created.Unix(), b.Created.Unix())
		if err := c.verifyMetadata(ctx, d, what, a.ID, "", b.ID); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		size, err := c.verifyMailboxes(ctx, d, a, b)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		// The target counts what it holds; the source's count may have
		// drifted from its messages' sizes, which the target does not
		// copy.
		check(d, what+" used bytes (the sum of its messages' sizes)", size, b.UsedBytes)
		if a.UsedBytes != size {
			c.rep.Notes = append(c.rep.Notes, fmt.Sprintf("%s: the source counted %d bytes used, its messages' sizes add up to %d: the target counts %d",
				a.Address, a.UsedBytes, size, b.UsedBytes))
		}
		if err := c.verifyJunk(ctx, d, a, b); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	return nil
}

// verifyMetadata compares the METADATA entries of a mailbox ("" for the
// server's) when both stores keep them.
func (c *copier) verifyMetadata(ctx context.Context, d *diffs, what string, fromAcct int64, mailbox string, toAcct int64) error {
	src, ok1 := c.from.(store.Metadata)
	dst, ok2 := c.to.(store.Metadata)
	if !ok1 || !ok2 {
		return nil
	}
	a, err := src.Metadata(ctx, fromAcct, mailbox)
	if err != nil {
		return err
	}
	b, err := dst.Metadata(ctx, toAcct, mailbox)
	if err != nil {
		return err
	}
	checkSet(d, what+" metadata", a, b, func(e store.MetadataEntry) string { return e.Name + "=" + string(e.Value) })
	return nil
}

// verifyMailboxes compares the mailboxes of an account, and returns the
// sum of the source's message sizes.
func (c *copier) verifyMailboxes(ctx context.Context, d *diffs, a, b store.Account) (int64, error) {
	src, err := c.from.ListMailboxes(ctx, a.ID)
	if err != nil {
		return 0, err
	}
	dst, err := c.to.ListMailboxes(ctx, b.ID)
	if err != nil {
		return 0, err
	}
	checkSet(d, "mailboxes of "+a.Address, src, dst, func(m store.Mailbox) string { return m.Name })
	srcSubs, err := c.from.Subscriptions(ctx, a.ID)
	if err != nil {
		return 0, err
	}
	dstSubs, err := c.to.Subscriptions(ctx, b.ID)
	if err != nil {
		return 0, err
	}
	checkSet(d, "subscriptions of "+a.Address, srcSubs, dstSubs, func(name string) string { return name })
	byName := map[string]store.Mailbox{}
	for _, m := range dst {
		byName[m.Name] = m
	}
	var size int64
	for _, m := range src {
		c.rep.Mailboxes++
		c.rep.Messages += int64(m.Messages)
		c.rep.Bytes += m.Size
		size += m.Size
		n, ok := byName[m.Name]
		if !ok {
			continue
		}
		what := fmt.Sprintf("mailbox %s of %s", m.Name, a.Address)
		check(d, what+" UIDVALIDITY", m.UIDValidity, n.UIDValidity)
		check(d, what+" UIDNEXT", m.UIDNext, n.UIDNext)
		check(d, what+" HIGHESTMODSEQ", m.HighestModSeq, n.HighestModSeq)
		check(d, what+" role", m.SpecialUse, n.SpecialUse)
		check(d, what+" subscription", m.Subscribed, n.Subscribed)
		check(d, what+" recent boundary", m.RecentUID, n.RecentUID)
		check(d, what+" messages", m.Messages, n.Messages)
		check(d, what+" unseen", m.Unseen, n.Unseen)
		check(d, what+" deleted", m.Deleted, n.Deleted)
		check(d, what+" size", m.Size, n.Size)
		if err := c.verifyMetadata(ctx, d, what, a.ID, m.Name, b.ID); err != nil {
			return 0, fmt.Errorf("%s: %w", what, err)
		}
		if err := c.verifyMessages(ctx, d, what, a.ID, m.ID, b.ID, n.ID); err != nil {
			return 0, fmt.Errorf("%s: %w", what, err)
		}
		if err := c.verifyACL(ctx, d, what, a.ID, m.ID, b.ID, n.ID); err != nil {
			return 0, fmt.Errorf("%s: %w", what, err)
		}
	}
	return size, nil
}

// verifyMessages compares the messages (without their bodies, which
// ImportMessage measured) and expunges of a mailbox.
func (c *copier) verifyMessages(ctx context.Context, d *diffs, what string, fromAcct, fromMB, toAcct, toMB int64) error {
	src, err := c.from.Messages(ctx, fromAcct, fromMB, 0)
	if err != nil {
		return err
	}
	dst, err := c.to.Messages(ctx, toAcct, toMB, 0)
	if err != nil {
		return err
	}
	byUID := make(map[uint32]store.Message, len(dst))
	for _, m := range dst {
		byUID[m.UID] = m
	}
	for _, m := range src {
		n, ok := byUID[m.UID]
		if !ok {
			d.add("%s: UID %d is missing in the target", what, m.UID)
			continue
		}
		delete(byUID, m.UID)
		w := fmt.Sprintf("%s UID %d", what, m.UID)
		check(d, w+" MODSEQ", m.ModSeq, n.ModSeq)
		check(d, w+" flags", strings.Join(m.Flags, " "), strings.Join(n.Flags, " "))
		check(d, w+" size", m.Size, n.Size)
		check(d, w+" internal date", m.InternalDate.Unix(), n.InternalDate.Unix())
		check(d, w+" save date", m.SaveDate.Unix(), n.SaveDate.Unix())
	}
	for uid := range byUID {
		d.add("%s: UID %d is in the target only", what, uid)
	}
	sgone, err := c.from.ExpungedSince(ctx, fromAcct, fromMB, 0)
	if err != nil {
		return err
	}
	dgone, err := c.to.ExpungedSince(ctx, toAcct, toMB, 0)
	if err != nil {
		return err
	}
	c.rep.Expunged += int64(len(sgone))
	if !slices.Equal(sgone, dgone) {
		d.add("%s: %d expunges remembered in the source, %d in the target, or with other MODSEQs", what, len(sgone), len(dgone))
	}
	return nil
}

func (c *copier) verifyJunk(ctx context.Context, d *diffs, a, b store.Account) error {
	src, ok := c.from.(store.JunkStore)
	if !ok {
		return nil
	}
	dst, ok := c.to.(store.JunkStore)
	if !ok {
		return nil // noted by the copy
	}
	sr, err := src.JunkRules(ctx, a.ID)
	if err != nil {
		return err
	}
	dr, err := dst.JunkRules(ctx, b.ID)
	if err != nil {
		return err
	}
	c.rep.JunkRules += len(sr)
	rule := func(r store.JunkRule) string {
		if c.rep.JunkDatesKept {
			return fmt.Sprintf("%s:%s@%d", r.Kind, r.Pattern, r.Created.Unix())
		}
		return r.Kind + ":" + r.Pattern
	}
	checkSet(d, "junk rules of "+a.Address, sr, dr, rule)
	sp, err := src.Reputations(ctx, a.ID)
	if err != nil {
		return err
	}
	dp, err := dst.Reputations(ctx, b.ID)
	if err != nil {
		return err
	}
	c.rep.Reputations += len(sp)
	rep := func(r store.SenderReputation) string {
		s := fmt.Sprintf("%s:%d/%d/%s", r.Sender, r.Spam, r.Ham, r.Last)
		if c.rep.JunkDatesKept {
			s += fmt.Sprintf("@%d", r.Updated.UnixNano())
		}
		return s
	}
	checkSet(d, "sender reputations of "+a.Address, sp, dp, rep)
	return nil
}

func (c *copier) verifyQueue(ctx context.Context, d *diffs) error {
	src, err := c.from.Queue(ctx)
	if err != nil {
		return err
	}
	dst, err := c.to.Queue(ctx)
	if err != nil {
		return err
	}
	c.rep.Queue = len(src)
	byID := map[int64]store.QueueEntry{}
	for _, e := range dst {
		byID[e.ID] = e
	}
	for _, e := range src {
		f, ok := byID[e.ID]
		if !ok {
			d.add("queue entry %d is missing in the target", e.ID)
			continue
		}
		delete(byID, e.ID)
		w := fmt.Sprintf("queue entry %d", e.ID)
		check(d, w+" account", c.accountID(e.AccountID), f.AccountID)
		check(d, w+" sender", e.From, f.From)
		check(d, w+" size", e.Size, f.Size)
		check(d, w+" prefix", string(e.Prefix), string(f.Prefix))
		check(d, w+" DSN", e.DSNRet+"/"+e.DSNEnvID, f.DSNRet+"/"+f.DSNEnvID)
		check(d, w+" REQUIRETLS/SMTPUTF8/8BITMIME", [3]bool{e.RequireTLS, e.SMTPUTF8, e.Body8Bit}, [3]bool{f.RequireTLS, f.SMTPUTF8, f.Body8Bit})
		check(d, w+" created", e.Created.Unix(), f.Created.Unix())
		check(d, w+" next attempt", e.NextAttempt.Unix(), f.NextAttempt.Unix())
		check(d, w+" attempts", e.Attempts, f.Attempts)
		check(d, w+" lease", fmt.Sprint(e.LeaseOwner, "@", e.LeaseUntil.Unix()), fmt.Sprint(f.LeaseOwner, "@", f.LeaseUntil.Unix()))
		rcpt := func(r store.QueueRcpt) string {
			return fmt.Sprintf("%s[%s %s %s %d %q %d]", r.Address, strings.Join(r.Notify, ","), r.ORcpt, r.Status, r.Attempts,
				r.LastReply, r.LastChange.Unix())
		}
		checkSet(d, w+" recipients", e.Recipients, f.Recipients, rcpt)
	}
	for id := range byID {
		d.add("queue entry %d is in the target only", id)
	}
	return nil
}
