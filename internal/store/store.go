// Package store holds everything Postel keeps: domains, accounts, aliases,
// mailboxes, messages (metadata in a database, bodies as blobs), the outbound
// queue, and the stream of changes that live IMAP and POP3 sessions follow.
//
// Store is the interface every implementation provides (SQLite, the embedded
// default, here; PostgreSQL later). conformance.go holds the test suite that
// every implementation runs.
//
// Invariants every implementation keeps:
//   - A method that returns nil has committed durably: message bodies are
//     fsynced together with their directory before the transaction that makes
//     them visible commits.
//   - UIDs in a mailbox are strictly ascending and never reused while the
//     mailbox's UIDVALIDITY stands; MODSEQ values grow with every change.
//   - Changes are announced to subscribers only after their commit.
//   - Every method that takes an account ID only ever reads or changes that
//     account's data.
package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"time"
)

// Errors callers can test with errors.Is.
var (
	ErrNotFound = errors.New("store: not found")
	ErrExists   = errors.New("store: already exists")
	ErrInvalid  = errors.New("store: invalid argument")
	ErrQuota    = errors.New("store: quota exceeded")
	ErrInUse    = errors.New("store: in use")
	// ErrUnavailable: the store cannot be reached now (its database is
	// down or unreachable); the operation may succeed later, and
	// protocols answer with a temporary failure (451 4.3.0,
	// NO [UNAVAILABLE], -ERR [SYS/TEMP]).
	ErrUnavailable = errors.New("store: unavailable")
	// ErrLeaseLost: the caller does not hold the queue entry's lease.
	ErrLeaseLost = errors.New("store: queue lease lost")
)

// Special-use roles (RFC 6154) of the mailboxes every account gets.
const (
	RoleNone    = ""
	RoleSent    = `\Sent`
	RoleDrafts  = `\Drafts`
	RoleTrash   = `\Trash`
	RoleJunk    = `\Junk`
	RoleArchive = `\Archive`
)

// DefaultMailboxes are created with every account, with their RFC 6154 roles.
var DefaultMailboxes = []struct{ Name, Role string }{
	{"INBOX", RoleNone},
	{"Sent", RoleSent},
	{"Drafts", RoleDrafts},
	{"Trash", RoleTrash},
	{"Junk", RoleJunk},
	{"Archive", RoleArchive},
}

// System flags (RFC 9051 §2.3.2). Keywords are any other atom.
const (
	FlagSeen     = `\Seen`
	FlagAnswered = `\Answered`
	FlagFlagged  = `\Flagged`
	FlagDeleted  = `\Deleted`
	FlagDraft    = `\Draft`
)

// Domain is a mail domain this server is final destination for.
type Domain struct {
	Name    string
	Created time.Time
}

// Credentials are the stored secrets of an account, encoded by internal/auth.
// The store never interprets them.
type Credentials struct {
	PasswordHash string // argon2id, PHC string form
	SCRAMSHA256  string // salt, iterations, StoredKey, ServerKey
}

// Account is a mailbox owner, addressed as localpart@domain.
type Account struct {
	ID          int64
	Address     string // canonical, lower case
	Domain      string
	Credentials Credentials
	QuotaBytes  int64 // 0: no limit
	UsedBytes   int64 // sum of the sizes of the account's messages
	Disabled    bool
	Created     time.Time
	// AuthEpoch moves whenever the account's failed-login counts must be
	// forgotten: its credentials changed (SetCredentials) or an operator
	// unlocked it (AuthEpochs.BumpAuthEpoch). A server sees it move at the
	// account's next login attempt, even when another process changed it.
	AuthEpoch int64
}

// Fits reports whether the account's quota takes size more bytes: the
// one quota rule, applied by the store when it commits a delivery and by
// the protocols before they accept the bytes (SMTP RCPT and SIZE=, IMAP
// APPEND before its literal).
func (a Account) Fits(size int64) bool {
	return a.QuotaBytes <= 0 || a.UsedBytes+size <= a.QuotaBytes
}

// Alias maps one address (or "@domain" for a catch-all) to targets: local
// account addresses or external addresses.
type Alias struct {
	Address string
	Targets []string
}

// Mailbox is an IMAP mailbox of one account.
type Mailbox struct {
	ID            int64
	AccountID     int64
	Name          string // hierarchy separator "/"; "INBOX" for the inbox
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	SpecialUse    string // RFC 6154 role, "" for none
	// Subscribed: the account's subscriptions (Mailboxes.Subscriptions)
	// hold the mailbox's name.
	Subscribed bool
	// RecentUID is the highest UID a session claimed as recent
	// (Mailboxes.ClaimRecent); Recent counts the messages above it, which
	// no session was told of yet as recent (STATUS RECENT, RFC 3501
	// §6.3.10).
	RecentUID uint32
	Recent    int
	Messages  int   // number of messages
	Unseen    int   // messages without \Seen
	Deleted   int   // messages with \Deleted
	Size      int64 // sum of message sizes
	// DeletedSize is the sum of the sizes of the messages with \Deleted
	// (STATUS DELETED-STORAGE, RFC 9208).
	DeletedSize int64
}

// MessageMeta is what internal/message extracted when the message was parsed
// once at delivery: serialized ENVELOPE and BODYSTRUCTURE, and the header
// fields SEARCH and SORT need.
type MessageMeta struct {
	Envelope  []byte // serialized by internal/message
	Structure []byte // serialized by internal/message
	Subject   string // decoded
	From      string // decoded addresses as text
	To        string
	Cc        string
	Bcc       string
	MessageID string
	Date      time.Time // zero when missing or unparsable
	// Message IDs of In-Reply-To (the first) and References, for THREAD
	// (RFC 5256).
	InReplyTo  string
	References []string
	// The searchable text (decoded UTF-8) for the full-text index; not
	// returned by MessageMetas.
	HeadersText string
	BodyText    string
}

// Message describes one stored message.
type Message struct {
	ID        int64 // store-wide, never reused
	MailboxID int64
	// BlobID names the stored body: store-wide, never reused, shared by
	// the copies of one message (Copy, Move, the targets of one
	// Delivery), so equal BlobIDs in one account mean the same message
	// (the OBJECTID EMAILID of RFC 8474 is derived from it). Set by
	// Messages.
	BlobID       int64
	UID          uint32
	ModSeq       uint64
	Flags        []string // system flags and keywords, sorted
	InternalDate time.Time
	SaveDate     time.Time
	Size         int64 // exact octets served: len(Prefix) + body size
	// NUL says whether the octets served hold a NUL, as recorded when the
	// message was stored (Spool.HasNUL). IMAP serves BODY[] and RFC822
	// only without NUL (RFC 9051 §4.3): a message known to hold none
	// needs no look at its octets first.
	NUL  NUL
	Meta MessageMeta
}

// NUL is what the store knows of a message's NUL octets.
type NUL int8

const (
	// NULUnknown: stored before the stores recorded it (SQLite migration
	// 15, PostgreSQL migration 9); the reader looks for itself.
	NULUnknown NUL = iota
	NULNone        // no NUL octet
	NULSome        // at least one NUL octet
)

// Column is n as the stores keep it, a nullable boolean (has_nul): nil
// when unknown.
func (n NUL) Column() *bool {
	if n == NULUnknown {
		return nil
	}
	b := n == NULSome
	return &b
}

// NULColumn reads a has_nul column back (Column).
func NULColumn(b *bool) NUL {
	switch {
	case b == nil:
		return NULUnknown
	case *b:
		return NULSome
	}
	return NULNone
}

// NULOf is the NUL of a message whose prefix and body are known.
func NULOf(prefix []byte, body bool) NUL {
	if body || bytes.IndexByte(prefix, 0) >= 0 {
		return NULSome
	}
	return NULNone
}

// Target is one local destination of a delivery.
type Target struct {
	AccountID    int64
	Mailbox      string    // "INBOX" if empty
	Flags        []string  // initial flags (APPEND); none for SMTP delivery
	InternalDate time.Time // now if zero
}

// QueueRcpt is one recipient of queued outbound mail, with its DSN
// parameters (RFC 3461) kept for the delivery attempts.
type QueueRcpt struct {
	Address    string
	Notify     []string // NEVER, SUCCESS, FAILURE, DELAY
	ORcpt      string   // original recipient, "type;addr"
	Status     string   // "pending", "delivered", "failed"
	Attempts   int
	LastReply  string
	LastChange time.Time
}

// QueueEntry is a message waiting to be delivered to remote recipients.
type QueueEntry struct {
	ID          int64
	AccountID   int64 // submitting account, 0 for none
	From        string
	Recipients  []QueueRcpt
	DSNRet      string // FULL or HDRS, "" for none
	DSNEnvID    string
	RequireTLS  bool
	SMTPUTF8    bool
	Body8Bit    bool
	Size        int64
	Created     time.Time
	NextAttempt time.Time
	Attempts    int
	LeaseOwner  string    // who holds the lease ("" when none)
	LeaseUntil  time.Time // zero when not leased
	// Prefix is sent before the body instead of Delivery.Prefix: the
	// Received field without Return-Path, which only the final delivery
	// adds (RFC 5321 §4.4).
	Prefix []byte
}

// Delivery is one message to store, for local targets and/or the outbound
// queue, in one transaction.
type Delivery struct {
	Spool   Spool  // body as received; Finish()ed by the caller
	Prefix  []byte // header fields the server adds (Return-Path, Received); prepended when read
	Meta    MessageMeta
	Targets []Target
	Queue   *QueueEntry // remote recipients, or nil
	// Replaces, when set, is a message expunged in the same transaction
	// (IMAP REPLACE, RFC 8508 §3): the delivery fails with ErrNotFound,
	// storing nothing, when that message is gone.
	Replaces *MessageRef
}

// MessageRef names one message of a mailbox.
type MessageRef struct {
	AccountID int64
	MailboxID int64
	UID       uint32
}

// Delivered tells where a delivery landed, per target, in Targets order.
type Delivered struct {
	MailboxID   int64
	UIDValidity uint32
	UID         uint32
	MessageID   int64
	QueueID     int64 // set on the first element when Queue was set
}

// CopyResult maps copied messages to their new UIDs (UIDPLUS COPYUID,
// RFC 4315 §3): Source[i] became Dest[i], in ascending Source order.
type CopyResult struct {
	UIDValidity uint32 // of the destination
	Source      []uint32
	Dest        []uint32
}

// FlagOp says how StoreFlags combines flags with the present ones.
type FlagOp int

const (
	FlagsAdd FlagOp = iota
	FlagsRemove
	FlagsReplace
)

// FlagChange is the result of StoreFlags for one message that changed, or
// that was left alone because its MODSEQ was above unchangedSince
// (Conflict, RFC 7162 §3.1.3).
type FlagChange struct {
	UID      uint32
	ModSeq   uint64
	Flags    []string
	Conflict bool
}

// Expunged is one removed message, as QRESYNC needs it.
type Expunged struct {
	UID    uint32
	ModSeq uint64
}

// ChangeKind says what happened in a Change.
type ChangeKind int

const (
	ChangeAdded    ChangeKind = iota + 1 // messages added (UIDs)
	ChangeFlags                          // flags changed (UIDs)
	ChangeExpunged                       // messages removed (UIDs)
	ChangeMailbox                        // mailbox created, renamed or deleted, or its access control list changed
	// ChangeAccount: the account was deleted, disabled or enabled
	// (MailboxID 0). Sessions logged in to it re-read it and end when it
	// is gone or disabled (WatchAccount).
	ChangeAccount
	// ChangeResync: changes may have been missed (this process could not
	// follow the feed for longer than the store keeps it): re-read the
	// account and every mailbox in view (MailboxID 0).
	ChangeResync
	// ChangeMetadata: METADATA entries of the mailbox changed, or of the
	// account's server entries when MailboxID is 0 (store.Metadata).
	ChangeMetadata
	// ChangeSubscription: the mailbox was subscribed or unsubscribed.
	ChangeSubscription
	// ChangeShared: what other accounts share with this one changed
	// (MailboxID 0): an entry naming it was set or removed on another
	// account's mailbox (ACL.SetACL), or an account whose mailboxes have
	// entries naming it was disabled or enabled (SetDisabled). It is told
	// to the grantee, whose sessions may follow no feed of the owner's;
	// entries naming Anyone are told to the owner's feed only
	// (ChangeMailbox): announcing them to every account would not scale.
	ChangeShared
)

// ResyncAfter is how long a follower may go without reading the change
// feed before it tells every subscriber to re-read (ChangeResync): half
// of what the stores keep, an hour.
const ResyncAfter = 30 * time.Minute

// Change is announced to subscribers after a commit.
type Change struct {
	AccountID int64
	MailboxID int64
	Kind      ChangeKind
	UIDs      []uint32
	ModSeq    uint64 // mailbox HIGHESTMODSEQ after the change
}

// Subscription receives the changes of one account. Sending never blocks
// the store: changes queue until Next takes them. No mailbox's change is
// ever lost, but past MaxPending waiting changes they are merged per
// mailbox (highest MODSEQ, no UIDs), so a consumer must be able to re-read
// a mailbox's state from the store.
type Subscription interface {
	// Ready is signalled when changes are waiting. It may fire with
	// nothing waiting (a signal left from changes already taken): Next
	// then returns none.
	Ready() <-chan struct{}
	// Next returns and clears the waiting changes.
	Next() []Change
	Close()
}

// Spool receives a message body being received. Finish ends writing;
// Deliver makes the body durable before the commit that makes it visible;
// Discard throws it away. A spool not delivered is never visible.
type Spool interface {
	io.Writer
	Size() int64
	// Finish closes the writer; after it the spool can be read.
	Finish() error
	// Open reads the finished spool.
	Open() (Blob, error)
	Discard() error
	// HasNUL reports whether a NUL octet was written, noted while the
	// body is written so that nobody reads it again to know (Message.NUL).
	HasNUL() bool
}

// MessageReader reads a stored message: the prefix the server added, then
// the body exactly as received.
type MessageReader interface {
	io.Reader
	io.ReaderAt
	Size() int64
	Close() error
}

// Kinds of junk rules (JunkRule.Kind).
const (
	JunkAllow = "allow"
	JunkBlock = "block"
)

// Marks of a sender's reputation (SenderReputation.Last).
const (
	MarkSpam = "spam"
	MarkHam  = "ham"
)

// JunkRule is one entry of an account's allow or block list.
type JunkRule struct {
	Kind string // JunkAllow or JunkBlock
	// Pattern is an address ("user@example.com"), or a domain
	// ("example.com") that also covers its subdomains; canonical (see
	// CanonicalJunkPattern).
	Pattern string
	Created time.Time
}

// SenderReputation is what one account's user taught about one sender by
// moving its messages into or out of Junk.
type SenderReputation struct {
	Sender  string // canonical address (see CanonicalSender)
	Spam    int    // messages marked as junk
	Ham     int    // messages marked as not junk
	Last    string // MarkSpam or MarkHam: the latest mark
	Updated time.Time
}

// JunkStore keeps each account's junk rules and sender reputations. The
// SQLite store implements it beside Store. Patterns and senders are
// canonicalized by the store; malformed ones are ErrInvalid.
type JunkStore interface {
	// AddJunkRule adds a rule: ErrExists when the pattern already has a
	// rule (of either kind: a pattern is allowed or blocked, not both),
	// ErrInvalid for a bad kind or pattern, ErrQuota past MaxJunkRules,
	// ErrNotFound for no such account.
	AddJunkRule(ctx context.Context, accountID int64, kind, pattern string) error
	// DeleteJunkRule removes a rule; ErrNotFound when there is no rule of
	// that kind for the pattern.
	DeleteJunkRule(ctx context.Context, accountID int64, kind, pattern string) error
	// JunkRules lists the account's rules by kind, then pattern.
	JunkRules(ctx context.Context, accountID int64) ([]JunkRule, error)
	// Reputation is the sender's reputation, the zero value when none.
	Reputation(ctx context.Context, accountID int64, sender string) (SenderReputation, error)
	// Reputations lists the account's reputations by sender.
	Reputations(ctx context.Context, accountID int64) ([]SenderReputation, error)
	// TrainSender adds one mark, spam or ham, to the sender. Past
	// MaxReputations senders, the least recently updated are forgotten.
	// ErrNotFound for no such account.
	TrainSender(ctx context.Context, accountID int64, sender string, spam bool) error
	// ClearReputation forgets the sender; ErrNotFound when there was
	// nothing to forget.
	ClearReputation(ctx context.Context, accountID int64, sender string) error
}

// AuthEpochs is the role of a store whose accounts can be unlocked: it
// bumps Account.AuthEpoch, which tells a running server (internal/auth) to
// forget the account's failed logins and its sources' failures against it.
// The SQLite store implements it beside Store.
type AuthEpochs interface {
	// BumpAuthEpoch moves the account's AuthEpoch on and returns its new
	// value; ErrNotFound for no such account.
	BumpAuthEpoch(ctx context.Context, address string) (int64, error)
}

// The store's roles. Each consumer takes only the roles it uses (or
// declares its own smaller interface); Store is every role together, what an
// implementation provides and what the conformance suite
// (internal/store/storetest) checks.

// Directory holds domains, accounts and aliases: who receives mail here.
type Directory interface {
	AddDomain(ctx context.Context, name string) error
	DeleteDomain(ctx context.Context, name string) error // ErrInUse while accounts exist
	ListDomains(ctx context.Context) ([]Domain, error)
	HasDomain(ctx context.Context, name string) (bool, error)

	// Accounts. Addresses are compared case-insensitively.
	CreateAccount(ctx context.Context, address string, cred Credentials) (Account, error)
	// SetCredentials also moves the account's AuthEpoch on.
	SetCredentials(ctx context.Context, address string, cred Credentials) error
	SetQuota(ctx context.Context, address string, bytes int64) error
	// SetDisabled stops (or restores) logins and delivery for an account;
	// its mail stays. It announces a ChangeAccount.
	SetDisabled(ctx context.Context, address string, disabled bool) error
	// DeleteAccount removes the account with its mailboxes and messages;
	// it announces a ChangeAccount after the changes of its mailboxes.
	DeleteAccount(ctx context.Context, address string) error
	Account(ctx context.Context, address string) (Account, error)
	AccountByID(ctx context.Context, id int64) (Account, error)
	ListAccounts(ctx context.Context) ([]Account, error)

	// Aliases. Address "@domain" is that domain's catch-all.
	AddAlias(ctx context.Context, address, target string) error
	DeleteAlias(ctx context.Context, address, target string) error // target "" removes all
	Alias(ctx context.Context, address string) (Alias, error)      // ErrNotFound when none
	ListAliases(ctx context.Context) ([]Alias, error)
}

// Mailboxes holds the mailboxes of each account.
type Mailboxes interface {
	CreateMailbox(ctx context.Context, accountID int64, name, specialUse string) (Mailbox, error)
	RenameMailbox(ctx context.Context, accountID int64, from, to string) error
	DeleteMailbox(ctx context.Context, accountID int64, name string) error
	Mailbox(ctx context.Context, accountID int64, name string) (Mailbox, error)
	ListMailboxes(ctx context.Context, accountID int64) ([]Mailbox, error)
	// SetSubscribed adds name to the account's subscriptions, or removes
	// it: a set of names of its own (RFC 3501 §6.3.6), which CreateMailbox,
	// RenameMailbox and DeleteMailbox leave alone, and which may hold
	// names that are no mailbox. ErrInvalid for a name CanonicalMailbox
	// refuses, ErrQuota past MaxSubscriptions, ErrNotFound for no such
	// account. Removing a name not there is no error.
	SetSubscribed(ctx context.Context, accountID int64, name string, on bool) error
	// Subscriptions lists the account's subscribed names, sorted.
	Subscriptions(ctx context.Context, accountID int64) ([]string, error)
	// ClaimRecent makes the messages of the mailbox with UIDs up to upto
	// (at most its UIDNEXT-1) recent to the caller, unless a claim
	// covered them already: it moves the mailbox's RecentUID to upto when
	// below, atomically, and returns the RecentUID before. The messages
	// with UIDs in (from, upto] are recent to the caller alone (RFC 3501
	// §2.3.2 \Recent: one session is the first to be notified), whatever
	// other session on any node claims at the same time. upto at or below
	// RecentUID changes nothing and just reads it.
	ClaimRecent(ctx context.Context, accountID, mailboxID int64, upto uint32) (from uint32, err error)
}

// MaxSubscriptions bounds the names an account may subscribe to.
const MaxSubscriptions = MaxMailboxes

// Ingest is the one way a message enters the store, whoever brings it
// (SMTP delivery, IMAP APPEND, a bounce, an import): a body spooled once,
// then one transaction for every local copy and the outbound queue entry.
// The callers build Deliveries through internal/deliver, which holds the
// one header parse and the one quota rule.
type Ingest interface {
	NewSpool() (Spool, error)
	Deliver(ctx context.Context, d *Delivery) ([]Delivered, error)
	// DeliverAll stores several deliveries atomically: all or none
	// (MULTIAPPEND, RFC 3502).
	DeliverAll(ctx context.Context, ds []*Delivery) ([][]Delivered, error)
}

// Messages reads and changes the messages of a mailbox.
type Messages interface {
	// Messages lists a mailbox in UID order, without Meta; changedSince > 0
	// keeps only messages with a greater MODSEQ.
	Messages(ctx context.Context, accountID, mailboxID int64, changedSince uint64) ([]Message, error)
	// MessageMetas returns the parsed metadata of the given messages (all
	// of the mailbox's when uids is nil), without the searchable text.
	MessageMetas(ctx context.Context, accountID, mailboxID int64, uids []uint32) (map[uint32]MessageMeta, error)
	OpenMessage(ctx context.Context, accountID, mailboxID int64, uid uint32) (MessageReader, error)
	StoreFlags(ctx context.Context, accountID, mailboxID int64, uids []uint32, op FlagOp, flags []string, unchangedSince uint64) ([]FlagChange, error)
	Expunge(ctx context.Context, accountID, mailboxID int64, uids []uint32) ([]Expunged, error)
	// ExpungeDeleted removes those of uids (every message when nil) that
	// carry \Deleted when the write commits: another session may have
	// cleared the flag since the caller looked (IMAP EXPUNGE and CLOSE).
	ExpungeDeleted(ctx context.Context, accountID, mailboxID int64, uids []uint32) ([]Expunged, error)
	// ExpungedSince lists removals with a MODSEQ greater than modseq (QRESYNC).
	ExpungedSince(ctx context.Context, accountID, mailboxID int64, modseq uint64) ([]Expunged, error)
	// Copy copies messages to another mailbox of the same account, with
	// their flags and internal dates; the body is shared, not copied.
	Copy(ctx context.Context, accountID, fromMailboxID int64, uids []uint32, toMailboxID int64) (CopyResult, error)
	// Move copies and expunges the sources atomically (RFC 6851).
	Move(ctx context.Context, accountID, fromMailboxID int64, uids []uint32, toMailboxID int64) (CopyResult, []Expunged, error)
	// SearchText returns the UIDs of messages that may contain every term
	// (case-insensitive substrings) in their body, or in headers or body
	// when withHeaders: candidates from the full-text index, which the
	// caller checks. ok is false when the index cannot narrow the search
	// (every term shorter than 3 characters): then all messages are
	// candidates.
	SearchText(ctx context.Context, accountID, mailboxID int64, terms []string, withHeaders bool) (uids []uint32, ok bool, err error)
	// Usage is the account's storage use (QUOTA, RFC 9208).
	Usage(ctx context.Context, accountID int64) (bytes, messages int64, err error)
}

// Outbound is the queue of mail for remote recipients, shared by every
// worker of every node: an entry is worked on only under a lease that
// names its owner, and only the owner may record the attempt.
type Outbound interface {
	Queue(ctx context.Context) ([]QueueEntry, error)
	QueueEntry(ctx context.Context, id int64) (QueueEntry, error)
	OpenQueued(ctx context.Context, id int64) (MessageReader, error)
	// ClaimQueue leases up to limit entries that are due (NextAttempt <=
	// now) and not leased (or whose lease ran out) to owner, until
	// now+lease; the entries come back with LeaseOwner and LeaseUntil set.
	// A worker that dies loses its entries when the lease runs out, and
	// another takes them.
	ClaimQueue(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]QueueEntry, error)
	// UpdateQueue records an attempt by the lease's owner: the recipients'
	// Status, Attempts and LastReply (matched by Address), the entry's
	// Attempts+1 and its NextAttempt, and releases the lease. When no
	// recipient is pending any more, the entry is deleted and its body
	// released. ErrLeaseLost when owner does not hold the entry's lease
	// (it ran out and another worker claimed it, or an operator deleted
	// the entry): nothing is changed.
	UpdateQueue(ctx context.Context, id int64, owner string, rcpts []QueueRcpt, nextAttempt time.Time) error
	// DeleteQueued drops an entry (operator); RetryQueued makes it due now.
	DeleteQueued(ctx context.Context, id int64) error
	RetryQueued(ctx context.Context, id int64) error
	// SentToday counts the recipients an account queued since a time (the
	// per-account sending limit).
	SentToday(ctx context.Context, accountID int64, since time.Time) (int, error)
}

// Leases are named locks that expire, shared by every process and node on
// the store: a POP3 maildrop held by one session, a job one node runs.
type Leases interface {
	// AcquireLease takes name for owner until now+ttl, or renews it when
	// owner holds it already; ErrInUse while another owner's lease runs.
	AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) error
	// ReleaseLease gives name up; nothing happens unless owner holds it.
	ReleaseLease(ctx context.Context, name, owner string) error
}

// LoginFailures counts failed logins per source (a client IP or IPv6 /64,
// as internal/auth keys it) on every node of the store, so that a source
// cannot try MaxFailures passwords on each node. BumpAuthEpoch (an unlock)
// and SetCredentials forget every failure against the account.
type LoginFailures interface {
	// AddLoginFailure records one failure of source against account
	// (its key, maybe "") at a time; rows older than a day go.
	AddLoginFailure(ctx context.Context, source, account string, at time.Time) error
	// CountLoginFailures counts source's failures since a time.
	CountLoginFailures(ctx context.Context, source string, since time.Time) (int, error)
	// ForgetLoginFailures forgets source's failures against account (a
	// success).
	ForgetLoginFailures(ctx context.Context, source, account string) error
}

// Importer takes another store's contents as they are, identities kept, so
// that clients find nothing changed (postel store copy): UIDVALIDITY, UIDs,
// MODSEQs, flags and dates. Every method can be run again after an
// interruption: what is there already is skipped, never doubled.
type Importer interface {
	// ImportAccount creates the account as given (address, credentials,
	// quota, disabled, auth epoch, created), without default mailboxes,
	// and returns its ID here; an account of that address already there
	// is returned as it is.
	ImportAccount(ctx context.Context, a Account) (id int64, err error)
	// ImportMailbox creates the mailbox with its UIDVALIDITY, UIDNEXT,
	// HIGHESTMODSEQ, role and subscription, and returns its ID here; one
	// of that name already there with the same UIDVALIDITY is returned,
	// with another UIDVALIDITY it is ErrExists. The account's next new
	// mailbox gets a UIDVALIDITY above every imported one.
	ImportMailbox(ctx context.Context, accountID int64, mb Mailbox) (id int64, err error)
	// ImportMessage stores one message of the mailbox with m's UID,
	// MODSEQ, flags, internal and save dates, the body and metadata of d
	// (d.Targets is ignored); ErrExists when the UID is there already.
	// It does not count against the quota and announces nothing.
	ImportMessage(ctx context.Context, accountID, mailboxID int64, m Message, d *Delivery) error
	// ImportExpunged records removals with their MODSEQ (QRESYNC), each
	// once.
	ImportExpunged(ctx context.Context, accountID, mailboxID int64, gone []Expunged) error
	// ImportQueueEntry stores an outbound entry under its ID e.ID, with
	// its recipients' states, attempts and next attempt, the body of
	// spool; ErrExists when that ID is there already.
	ImportQueueEntry(ctx context.Context, e QueueEntry, spool Spool) error
}

// SharedFiles holds the files of the data_dir that every node of a shared
// store must hold alike, so that the operator copies none by hand: the DKIM
// private keys (dkim/DOMAIN/SELECTOR.key, internal/dkim) and the SRS secret
// (srs.key, internal/srs). internal/sharedfiles keeps the data_dir and the
// store in step. Names are paths relative to data_dir, slash-separated,
// as CheckSharedFileName allows. A stored file is never replaced: keys
// already in use elsewhere must not change under a node. The PostgreSQL
// store implements it; the SQLite store serves one machine and does not.
type SharedFiles interface {
	// PutSharedFile stores data under name: nil when stored, or when
	// name holds the same bytes already; ErrExists when it holds other
	// bytes (nothing is changed); ErrInvalid for a name
	// CheckSharedFileName refuses, or data empty or larger than
	// MaxSharedFileSize.
	PutSharedFile(ctx context.Context, name string, data []byte) error
	// SharedFiles returns every stored file by name.
	SharedFiles(ctx context.Context) (map[string][]byte, error)
}

// LoginFailureKeep is how long a store keeps failed logins (far longer
// than any throttle window).
const LoginFailureKeep = 24 * time.Hour

// Feed follows the committed changes of an account, whoever made them
// (this process, an admin command, another node).
type Feed interface {
	Subscribe(accountID int64) Subscription
}

// Store is every role: what an implementation provides.
type Store interface {
	Directory
	Mailboxes
	Ingest
	Messages
	Outbound
	Feed
	ACL
	Close() error
}
