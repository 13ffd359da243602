// Package storecopy copies everything one store holds into another, with
// the identities IMAP and POP3 clients remember kept (UIDVALIDITY, UIDs,
// MODSEQs, flags, dates, the expunges QRESYNC reports, queue IDs), so that
// they find nothing changed: postel store copy, moving from the embedded
// SQLite store to PostgreSQL without a resync.
//
// It reads the source through the store's roles and writes the target
// through store.Importer; it knows no concrete store. Every message goes
// through deliver.Prepare, the one parse, so its metadata and searchable
// text are what a delivery computes.
//
// Invariants:
//   - Copy can be run again after an interruption (a cancelled context, a
//     crash, a database gone): each step is one committed write that a
//     later run finds and skips, so the second run completes the copy and
//     doubles nothing.
//   - Copy ends with a verification that re-reads both stores: any
//     difference (counts, sizes, UIDNEXT, HIGHESTMODSEQ, UIDVALIDITY, a
//     message's UID, MODSEQ, flags or dates, an expunge, a queue entry) is
//     an error (ErrDifferent) that names it.
//   - The source must not change during the copy (the caller stops the
//     server); if it does, the verification says where.
package storecopy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"postel/internal/deliver"
	"postel/internal/store"
)

// Target is a store Copy writes into.
type Target interface {
	store.Store
	store.Importer
}

// JunkImporter is the optional role of a target that takes junk rules and
// reputations with their times (the PostgreSQL store). Without it, Copy
// replays them through store.JunkStore: the same rules and counts, dated
// at the copy.
type JunkImporter interface {
	// ImportJunkRule adds the rule with its creation time; one already
	// there for the pattern and kind is left as it is.
	ImportJunkRule(ctx context.Context, accountID int64, r store.JunkRule) error
	// ImportReputation sets the sender's reputation to r, replacing what
	// is there.
	ImportReputation(ctx context.Context, accountID int64, r store.SenderReputation) error
}

// Progress is where a copy stands, given to Options.Progress.
type Progress struct {
	// Messages done (copied now, or found copied by an earlier run) out
	// of TotalMessages, the source's count when the copy began; Bytes and
	// TotalBytes are their sizes.
	Messages, TotalMessages int64
	Bytes, TotalBytes       int64
}

// BatchImporter is the optional role of a target that takes many
// messages of one mailbox in one transaction, all or none, ErrExists when
// any is there already (the PostgreSQL store): one commit, one fsync, for
// a batch. Without it, Copy imports one message at a time.
type BatchImporter interface {
	ImportMessages(ctx context.Context, accountID, mailboxID int64, ms []store.Message, ds []*store.Delivery) error
}

// Options tune Copy.
type Options struct {
	// Progress, when set, is called after each message is committed (or
	// found there already), on the goroutine that called Copy.
	Progress func(Progress)
	// BatchMessages and BatchBytes bound the messages one transaction
	// of a BatchImporter takes (defaults 200 and 16 MiB).
	BatchMessages int
	BatchBytes    int64
	// Files are the secrets of the source's data dir that every node
	// must hold alike (sharedfiles.Local: the DKIM keys, srs.key), by
	// their names under data_dir. When the target carries them
	// (store.SharedFiles), Copy puts them there, and the nodes take them
	// at their start; else they stay files to copy by hand.
	Files map[string][]byte
}

// Report says what a copy found and did. The counts are the source's, as
// the verification read them.
type Report struct {
	Domains     int
	Accounts    int
	Aliases     int // addresses with targets (catch-alls included)
	Mailboxes   int
	Messages    int64
	Bytes       int64 // the sizes of the messages
	Expunged    int64 // removals remembered for QRESYNC
	Queue       int   // outbound entries
	JunkRules   int
	Reputations int
	ACLEntries  int // entries of mailboxes' access control lists (acl.go)
	// What this run copied; the rest was there from an earlier run.
	CopiedMessages int64
	CopiedBytes    int64
	CopiedQueue    int
	// SharedFiles: the target carries the data dir's secrets
	// (store.SharedFiles), and holds Options.Files, listed in Files.
	SharedFiles bool
	Files       []string
	// JunkDatesKept: the target took the junk data as it is
	// (JunkImporter); else rules and reputations are dated at the copy.
	JunkDatesKept bool
	// Verified: the verification found the target equal to the source.
	Verified bool
	// Notes are facts the operator should know that are no error.
	Notes   []string
	Elapsed time.Duration
}

// ErrDifferent: the verification found the target differing from the
// source.
var ErrDifferent = errors.New("storecopy: the copy differs from the source")

// expungeChunk bounds the removals of one ImportExpunged.
const expungeChunk = 5000

// copier is one run of Copy.
type copier struct {
	from store.Store
	to   Target
	opts Options
	rep  Report

	// src is the source's accounts and mailboxes when the copy began.
	src []srcAccount
	// ids maps the source's account IDs to the target's.
	ids map[int64]int64

	progress Progress
	buf      []byte
}

type srcAccount struct {
	store.Account
	mailboxes []store.Mailbox
}

// Copy copies everything from holds into to: domains, accounts (with their
// credentials, quota, disabled state and auth epoch), aliases with
// catch-alls, junk rules and reputations (when from is a store.JunkStore),
// mailboxes with their UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, role, recent
// boundary and access control list, the subscribed names, their messages (UIDs, MODSEQs, flags, dates, the bytes
// served) and expunges, and the outbound queue under its IDs. Then it
// verifies. The target must hold nothing but what an earlier Copy from
// the same source put there: an account the source lacks is refused
// before anything is written.
func Copy(ctx context.Context, from store.Store, to Target, opts Options) (Report, error) {
	start := time.Now()
	if opts.BatchMessages <= 0 {
		opts.BatchMessages = 200
	}
	if opts.BatchBytes <= 0 {
		opts.BatchBytes = 16 << 20
	}
	c := &copier{from: from, to: to, opts: opts, ids: map[int64]int64{}, buf: make([]byte, 64<<10)}
	err := c.run(ctx)
	if err == nil {
		err = c.verify(ctx)
	}
	c.rep.Elapsed = time.Since(start)
	return c.rep, err
}

func (c *copier) run(ctx context.Context) error {
	if err := c.plan(ctx); err != nil {
		return err
	}
	if err := c.domains(ctx); err != nil {
		return err
	}
	if err := c.aliases(ctx); err != nil {
		return err
	}
	for i := range c.src {
		if err := c.account(ctx, &c.src[i]); err != nil {
			return err
		}
	}
	if err := c.acls(ctx); err != nil {
		return err
	}
	if err := c.queue(ctx); err != nil {
		return err
	}
	return c.files(ctx)
}

// files puts the data dir's secrets into a target that carries them. One
// the target holds already with the same contents (an earlier run) is
// nothing new; with other contents it is an error: the target's is in
// use by a node, and is never replaced.
func (c *copier) files(ctx context.Context) error {
	sf, ok := c.to.(store.SharedFiles)
	if !ok {
		return nil
	}
	c.rep.SharedFiles = true
	for _, name := range slices.Sorted(maps.Keys(c.opts.Files)) {
		err := sf.PutSharedFile(ctx, name, c.opts.Files[name])
		if errors.Is(err, store.ErrExists) {
			return fmt.Errorf("storecopy: the target holds another %s than the data dir's, which a node of it may use: not replaced", name)
		} else if err != nil {
			return fmt.Errorf("storecopy: putting %s into the target: %w", name, err)
		}
	}
	return nil
}

// plan lists the source's accounts and mailboxes, with the totals the
// progress counts towards, and refuses a target holding another server's
// accounts.
func (c *copier) plan(ctx context.Context) error {
	accts, err := c.from.ListAccounts(ctx)
	if err != nil {
		return fmt.Errorf("storecopy: listing the source's accounts: %w", err)
	}
	have := map[string]bool{}
	for _, a := range accts {
		mbs, err := c.from.ListMailboxes(ctx, a.ID)
		if err != nil {
			return fmt.Errorf("storecopy: listing the mailboxes of %s: %w", a.Address, err)
		}
		for _, mb := range mbs {
			c.progress.TotalMessages += int64(mb.Messages)
			c.progress.TotalBytes += mb.Size
		}
		c.src = append(c.src, srcAccount{a, mbs})
		have[a.Address] = true
	}
	theirs, err := c.to.ListAccounts(ctx)
	if err != nil {
		return fmt.Errorf("storecopy: listing the target's accounts: %w", err)
	}
	for _, a := range theirs {
		if !have[a.Address] {
			return fmt.Errorf("storecopy: the target already holds account %s, which the source does not have: copy into an empty database", a.Address)
		}
	}
	return nil
}

func (c *copier) domains(ctx context.Context) error {
	ds, err := c.from.ListDomains(ctx)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if err := c.to.AddDomain(ctx, d.Name); err != nil && !errors.Is(err, store.ErrExists) {
			return fmt.Errorf("storecopy: domain %s: %w", d.Name, err)
		}
	}
	return nil
}

func (c *copier) aliases(ctx context.Context) error {
	all, err := c.from.ListAliases(ctx)
	if err != nil {
		return err
	}
	for _, a := range all {
		for _, t := range a.Targets {
			if err := c.to.AddAlias(ctx, a.Address, t); err != nil && !errors.Is(err, store.ErrExists) {
				return fmt.Errorf("storecopy: alias %s -> %s: %w", a.Address, t, err)
			}
		}
	}
	return nil
}

// account copies one account with its junk data and mailboxes.
func (c *copier) account(ctx context.Context, a *srcAccount) error {
	id, err := c.to.ImportAccount(ctx, a.Account)
	if err != nil {
		return fmt.Errorf("storecopy: account %s: %w", a.Address, err)
	}
	c.ids[a.ID] = id
	if err := c.junk(ctx, a.Account, id); err != nil {
		return fmt.Errorf("storecopy: junk data of %s: %w", a.Address, err)
	}
	for _, mb := range a.mailboxes {
		if err := c.mailbox(ctx, a.Account, mb, id); err != nil {
			return fmt.Errorf("storecopy: mailbox %s of %s: %w", mb.Name, a.Address, err)
		}
	}
	if err := c.metadata(ctx, a, id); err != nil {
		return fmt.Errorf("storecopy: metadata of %s: %w", a.Address, err)
	}
	if err := c.subscriptions(ctx, a.Account, id); err != nil {
		return fmt.Errorf("storecopy: subscriptions of %s: %w", a.Address, err)
	}
	return nil
}

// metadata copies the account's METADATA (RFC 5464): its server entries
// and each mailbox's. An entry the target has already is left as it is,
// as Importer leaves what is there.
func (c *copier) metadata(ctx context.Context, a *srcAccount, to int64) error {
	src, ok := c.from.(store.Metadata)
	if !ok {
		return nil
	}
	names := []string{""}
	for _, mb := range a.mailboxes {
		names = append(names, mb.Name)
	}
	dst, ok := c.to.(store.Metadata)
	for _, name := range names {
		es, err := src.Metadata(ctx, a.ID, name)
		if err != nil {
			return err
		}
		if len(es) == 0 {
			continue
		}
		if !ok {
			c.rep.Notes = append(c.rep.Notes, fmt.Sprintf("%s: the target keeps no metadata: %d entries of %q not copied", a.Address, len(es), name))
			continue
		}
		there, err := dst.Metadata(ctx, to, name)
		if err != nil {
			return err
		}
		es = slices.DeleteFunc(es, func(e store.MetadataEntry) bool {
			return slices.ContainsFunc(there, func(f store.MetadataEntry) bool { return f.Name == e.Name })
		})
		if len(es) == 0 {
			continue
		}
		if err := dst.SetMetadata(ctx, to, name, es); err != nil {
			return fmt.Errorf("%q: %w", name, err)
		}
	}
	return nil
}

// subscriptions makes the target account's subscribed names those of the
// source, names that are no mailbox included (RFC 3501 §6.3.6).
func (c *copier) subscriptions(ctx context.Context, a store.Account, to int64) error {
	src, err := c.from.Subscriptions(ctx, a.ID)
	if err != nil {
		return err
	}
	dst, err := c.to.Subscriptions(ctx, to)
	if err != nil {
		return err
	}
	for _, name := range dst {
		if !slices.Contains(src, name) {
			if err := c.to.SetSubscribed(ctx, to, name, false); err != nil {
				return err
			}
		}
	}
	for _, name := range src {
		if !slices.Contains(dst, name) {
			if err := c.to.SetSubscribed(ctx, to, name, true); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	return nil
}

// mailbox copies one mailbox: its identity, the messages not copied yet
// (in batches), its expunges.
func (c *copier) mailbox(ctx context.Context, a store.Account, mb store.Mailbox, to int64) error {
	tmb, err := c.to.ImportMailbox(ctx, to, mb)
	if err != nil {
		return err
	}
	msgs, err := c.from.Messages(ctx, a.ID, mb.ID, 0)
	if err != nil {
		return err
	}
	there, err := c.to.Messages(ctx, to, tmb, 0)
	if err != nil {
		return err
	}
	have := make(map[uint32]bool, len(there))
	for _, m := range there {
		have[m.UID] = true
	}
	// One goroutine reads and parses the next messages while this one
	// imports a batch.
	rctx, stop := context.WithCancel(ctx)
	ch := make(chan prepared, c.opts.BatchMessages)
	go c.read(rctx, a.ID, mb.ID, msgs, have, ch)
	b := &batch{}
	defer func() {
		stop()
		for p := range ch {
			if p.d != nil {
				p.d.Spool.Discard()
			}
		}
		b.discard()
	}()
	for p := range ch {
		if err := ctx.Err(); err != nil {
			if p.d != nil {
				p.d.Spool.Discard()
			}
			return err
		}
		if p.err != nil {
			return fmt.Errorf("UID %d: %w", p.m.UID, p.err)
		}
		if p.d == nil {
			c.done(p.m.Size) // there already, or gone from the source meanwhile
			continue
		}
		b.ms, b.ds, b.bytes = append(b.ms, p.m), append(b.ds, p.d), b.bytes+p.m.Size
		if len(b.ms) >= c.opts.BatchMessages || b.bytes >= c.opts.BatchBytes {
			if err := c.flush(ctx, to, tmb, b); err != nil {
				return err
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.flush(ctx, to, tmb, b); err != nil {
		return err
	}
	gone, err := c.from.ExpungedSince(ctx, a.ID, mb.ID, 0)
	if err != nil {
		return err
	}
	for len(gone) > 0 {
		chunk := gone[:min(len(gone), expungeChunk)]
		gone = gone[len(chunk):]
		if err := c.to.ImportExpunged(ctx, to, tmb, chunk); err != nil {
			return err
		}
	}
	return nil
}

// prepared is one message read for the import: d is nil when it is in
// the target already or gone from the source.
type prepared struct {
	m   store.Message
	d   *store.Delivery
	err error
}

// read prepares the messages of a mailbox the target does not have, in
// order, into ch, and closes it. It stops at the first error (sent) or
// when ctx ends.
func (c *copier) read(ctx context.Context, from, fromMB int64, msgs []store.Message, have map[uint32]bool, ch chan<- prepared) {
	defer close(ch)
	for _, m := range msgs {
		p := prepared{m: m}
		if !have[m.UID] {
			p.d, p.err = c.prepare(ctx, from, fromMB, m)
		}
		select {
		case ch <- p:
		case <-ctx.Done():
			if p.d != nil {
				p.d.Spool.Discard()
			}
			return
		}
		if p.err != nil {
			return
		}
	}
}

// batch is messages of one mailbox prepared for one import.
type batch struct {
	ms    []store.Message
	ds    []*store.Delivery
	bytes int64
}

// discard drops the spools of the batch and empties it.
func (b *batch) discard() {
	for _, d := range b.ds {
		d.Spool.Discard()
	}
	b.ms, b.ds, b.bytes = b.ms[:0], b.ds[:0], 0
}

// done counts one message done and tells the progress.
func (c *copier) done(size int64) {
	c.progress.Messages++
	c.progress.Bytes += size
	if c.opts.Progress != nil {
		c.opts.Progress(c.progress)
	}
}

// flush imports a batch: in one transaction when the target takes
// batches, else (or when some message of it is there already, copied by
// another run meanwhile) one by one.
func (c *copier) flush(ctx context.Context, to, toMB int64, b *batch) error {
	if len(b.ms) == 0 {
		return nil
	}
	defer b.discard()
	copied := make([]bool, len(b.ms))
	batched := false
	if bi, ok := c.to.(BatchImporter); ok && len(b.ms) > 1 {
		err := bi.ImportMessages(ctx, to, toMB, b.ms, b.ds)
		if err != nil && !errors.Is(err, store.ErrExists) {
			return err
		}
		batched = err == nil
		for i := range copied {
			copied[i] = batched
		}
	}
	if !batched {
		for i, m := range b.ms {
			err := c.to.ImportMessage(ctx, to, toMB, m, b.ds[i])
			if err != nil && !errors.Is(err, store.ErrExists) {
				return fmt.Errorf("UID %d: %w", m.UID, err)
			}
			copied[i] = err == nil
		}
	}
	for i, m := range b.ms {
		if copied[i] {
			c.rep.CopiedMessages++
			c.rep.CopiedBytes += m.Size
		}
		c.done(m.Size)
	}
	return nil
}

// prepare reads one message for the import: the bytes the source serves
// (its prefix and body) become the body of a spool of the target, parsed
// once by deliver.Prepare. It returns nil for a message gone from the
// source since it was listed.
func (c *copier) prepare(ctx context.Context, from, fromMB int64, m store.Message) (*store.Delivery, error) {
	r, err := c.from.OpenMessage(ctx, from, fromMB, m.UID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	sp, err := c.spool(r)
	r.Close()
	if err != nil {
		return nil, err
	}
	d, err := deliver.Prepare(sp, nil, nil)
	if err != nil {
		sp.Discard()
		return nil, err
	}
	return d, nil
}

// spool writes r into a finished spool of the target.
func (c *copier) spool(r io.Reader) (store.Spool, error) {
	sp, err := c.to.NewSpool()
	if err != nil {
		return nil, err
	}
	if _, err := io.CopyBuffer(sp, r, c.buf); err != nil {
		sp.Discard()
		return nil, err
	}
	if err := sp.Finish(); err != nil {
		sp.Discard()
		return nil, err
	}
	return sp, nil
}

// junk copies the account's junk rules and reputations, when the source
// keeps them.
func (c *copier) junk(ctx context.Context, a store.Account, to int64) error {
	src, ok := c.from.(store.JunkStore)
	if !ok {
		return nil
	}
	rules, err := src.JunkRules(ctx, a.ID)
	if err != nil {
		return err
	}
	reps, err := src.Reputations(ctx, a.ID)
	if err != nil {
		return err
	}
	if ji, ok := c.to.(JunkImporter); ok {
		c.rep.JunkDatesKept = true
		for _, r := range rules {
			if err := ji.ImportJunkRule(ctx, to, r); err != nil {
				return err
			}
		}
		for _, r := range reps {
			if err := ji.ImportReputation(ctx, to, r); err != nil {
				return err
			}
		}
		return nil
	}
	dst, ok := c.to.(store.JunkStore)
	if !ok {
		if len(rules)+len(reps) > 0 {
			c.rep.Notes = append(c.rep.Notes, fmt.Sprintf("%s: the target keeps no junk data: %d rules and %d sender reputations not copied",
				a.Address, len(rules), len(reps)))
		}
		return nil
	}
	for _, r := range rules {
		if err := dst.AddJunkRule(ctx, to, r.Kind, r.Pattern); err != nil && !errors.Is(err, store.ErrExists) {
			return err
		}
	}
	// Oldest first, so that the target forgets in the same order.
	slices.SortStableFunc(reps, func(x, y store.SenderReputation) int { return x.Updated.Compare(y.Updated) })
	for _, r := range reps {
		if err := replayReputation(ctx, dst, to, r); err != nil {
			return err
		}
	}
	return nil
}

// replayReputation makes the target's reputation of r.Sender r's counts
// and latest mark through TrainSender: the other mark's count first, the
// latest last. A partial replay (an interrupted run) is cleared first.
func replayReputation(ctx context.Context, dst store.JunkStore, to int64, r store.SenderReputation) error {
	have, err := dst.Reputation(ctx, to, r.Sender)
	if err != nil {
		return err
	}
	if have.Spam == r.Spam && have.Ham == r.Ham && have.Last == r.Last {
		return nil
	}
	if have.Spam+have.Ham > 0 {
		if err := dst.ClearReputation(ctx, to, r.Sender); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	lastSpam := r.Last == store.MarkSpam
	first, second := r.Ham, r.Spam
	if !lastSpam {
		first, second = r.Spam, r.Ham
	}
	for range first {
		if err := dst.TrainSender(ctx, to, r.Sender, !lastSpam); err != nil {
			return err
		}
	}
	for range second {
		if err := dst.TrainSender(ctx, to, r.Sender, lastSpam); err != nil {
			return err
		}
	}
	return nil
}

// queue copies the outbound entries not copied yet.
func (c *copier) queue(ctx context.Context) error {
	entries, err := c.from.Queue(ctx)
	if err != nil {
		return fmt.Errorf("storecopy: listing the queue: %w", err)
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := c.to.QueueEntry(ctx, e.ID); err == nil {
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("storecopy: queue entry %d: %w", e.ID, err)
		}
		copied, err := c.queueEntry(ctx, e)
		if err != nil {
			return fmt.Errorf("storecopy: queue entry %d: %w", e.ID, err)
		}
		if copied {
			c.rep.CopiedQueue++
		}
	}
	return nil
}

// queueEntry copies one entry; false when it left the source meanwhile.
func (c *copier) queueEntry(ctx context.Context, e store.QueueEntry) (bool, error) {
	r, err := c.from.OpenQueued(ctx, e.ID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	defer r.Close()
	// The reader serves the entry's prefix, then its body: the body alone
	// goes into the spool, the prefix stays the entry's.
	n := int64(len(e.Prefix))
	if r.Size() < n {
		return false, fmt.Errorf("%d bytes served, shorter than its %d-byte prefix", r.Size(), n)
	}
	sp, err := c.spool(io.NewSectionReader(r, n, r.Size()-n))
	if err != nil {
		return false, err
	}
	defer sp.Discard()
	e.AccountID = c.accountID(e.AccountID)
	err = c.to.ImportQueueEntry(ctx, e, sp)
	if errors.Is(err, store.ErrExists) {
		return false, nil
	}
	return err == nil, err
}

// accountID maps a source account ID to the target's. An ID the source no
// longer has (a submitter deleted since) is kept: it only says the mail
// was submitted (and is to be signed).
func (c *copier) accountID(id int64) int64 {
	if to, ok := c.ids[id]; ok {
		return to
	}
	return id
}
