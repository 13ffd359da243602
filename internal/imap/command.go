// Package imap is the IMAP wire: the command parser (client to server),
// the response encoder (server to client), sequence sets, search keys,
// modified UTF-7 mailbox names, and the encoding of ENVELOPE and
// BODYSTRUCTURE. It knows the syntax of RFC 9051, RFC 3501 and the
// extensions Postel serves; it holds no session state and no storage.
//
// This file is the command tree the parser produces and imapserver
// consumes: one Command per client line (with its literals), whose Args is
// one of the *XxxArgs types below.
package imap

import (
	"io"
	"time"
)

// Command is one parsed client command.
type Command struct {
	Tag  string
	Name string // upper case, without "UID": "FETCH" for "UID FETCH"
	UID  bool   // the UID form (UID FETCH, UID STORE, UID COPY, UID MOVE, UID SEARCH, UID SORT, UID THREAD, UID EXPUNGE, UID REPLACE)
	// Args is nil for commands without arguments (CAPABILITY, NOOP,
	// LOGOUT, STARTTLS, NAMESPACE, IDLE, CHECK, CLOSE, UNSELECT, EXPUNGE),
	// else a pointer to the matching *XxxArgs.
	Args any
}

// LoginArgs: LOGIN (RFC 9051 §6.2.3).
type LoginArgs struct{ Username, Password string }

// AuthenticateArgs: AUTHENTICATE (RFC 9051 §6.2.2) with an optional
// initial response (SASL-IR, RFC 4959; "=" is an empty one).
type AuthenticateArgs struct {
	Mechanism       string // upper case
	InitialResponse []byte
	HasInitial      bool
}

// EnableArgs: ENABLE (RFC 5161).
type EnableArgs struct{ Capabilities []string } // upper case

// SelectArgs: SELECT and EXAMINE (ReadOnly), with CONDSTORE (RFC 7162
// §3.1.8) and QRESYNC (RFC 7162 §3.2.5) parameters.
type SelectArgs struct {
	Mailbox   string // decoded: UTF-8 (from modified UTF-7 unless UTF8=ACCEPT)
	ReadOnly  bool
	CondStore bool
	QResync   *QResyncArgs
}

// QResyncArgs is the QRESYNC select parameter.
type QResyncArgs struct {
	UIDValidity  uint32
	ModSeq       uint64
	KnownUIDs    *SeqSet // may be nil
	KnownSeqNums *SeqSet // seq-match-data: both set or both nil
	KnownSeqUIDs *SeqSet
}

// MailboxArgs: DELETE, SUBSCRIBE, UNSUBSCRIBE, GETQUOTAROOT.
type MailboxArgs struct{ Mailbox string }

// CreateArgs: CREATE, with CREATE-SPECIAL-USE (RFC 6154 §3).
type CreateArgs struct {
	Mailbox    string
	SpecialUse []string // e.g. `\Sent`
}

// RenameArgs: RENAME.
type RenameArgs struct{ From, To string }

// ListArgs: LIST with LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819)
// and SPECIAL-USE (RFC 6154); LSUB (rev1) is Name "LSUB" with the same
// args and no options.
type ListArgs struct {
	Reference string
	Patterns  []string // one unless the extended form gave a list
	// Selection options (upper case): SUBSCRIBED, REMOTE, RECURSIVEMATCH, SPECIAL-USE.
	Select []string
	// Return options.
	ReturnSubscribed bool
	ReturnChildren   bool
	ReturnSpecialUse bool
	ReturnStatus     []string // STATUS items (upper case), nil when not asked
	ReturnMyRights   bool     // RFC 8440: MYRIGHTS
	Extended         bool     // the extended syntax was used (selection or return options present)
}

// StatusArgs: STATUS (RFC 9051 §6.3.11), items upper case: MESSAGES,
// UIDNEXT, UIDVALIDITY, UNSEEN, DELETED, SIZE, RECENT, HIGHESTMODSEQ,
// APPENDLIMIT, MAILBOXID (RFC 8474 §4.2), DELETED-STORAGE (RFC 9208).
type StatusArgs struct {
	Mailbox string
	Items   []string
}

// AppendArgs: APPEND, several messages with MULTIAPPEND (RFC 3502).
type AppendArgs struct {
	Mailbox  string
	Messages []AppendMessage
}

// AppendMessage is one message of APPEND. Its literal was streamed, as it
// arrived, into the io.Writer the parser's AppendSink returned.
type AppendMessage struct {
	Flags  []string
	Date   time.Time // zero when absent
	Size   int64
	Binary bool      // literal8 (~{n}, RFC 3516)
	Sink   io.Writer // what AppendSink returned for this message
	// Catenate: the message was given as CATENATE parts (RFC 4469); Sink
	// is the CatenateWriter that assembled it, Size counts its TEXT parts.
	Catenate bool
}

// SeqRange is n:m; 0 stands for "*". Start may be above Stop (RFC 9051
// §9: 4:2 is 2:4).
type SeqRange struct{ Start, Stop uint32 }

// SeqSet is a sequence set. Saved is "$", the saved search result
// (SEARCHRES, RFC 5182).
type SeqSet struct {
	Ranges []SeqRange
	Saved  bool
}

// SearchArgs: SEARCH (RFC 9051 §6.4.4), with ESEARCH return options
// (RFC 4731 / RFC 9051 §6.4.4: MIN, MAX, ALL, COUNT, SAVE).
type SearchArgs struct {
	Charset   string   // "" when absent
	Return    []string // upper case; nil when no RETURN; empty (not nil) for RETURN ()
	HasReturn bool
	Partial   *PartialRange // RETURN (PARTIAL range), RFC 9394
	Key       *SearchKey    // an AND of the top-level keys
}

// SearchKey is a node of a search program. Op is upper case, one of:
//
//	AND (Children), OR (two Children), NOT (one Child)
//	ALL ANSWERED DELETED DRAFT FLAGGED SEEN UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN
//	NEW OLD RECENT (rev1: \Recent is among the message's flags in rev1 sessions)
//	KEYWORD UNKEYWORD (Value)
//	BCC CC FROM SUBJECT TO BODY TEXT (Value)
//	HEADER (Field, Value)
//	BEFORE ON SINCE SENTBEFORE SENTON SENTSINCE (Date, a day in UTC)
//	LARGER SMALLER (Number)
//	SEQSET UID (Set)
//	MODSEQ (Number; the optional entry name and type are parsed and ignored)
//	OLDER YOUNGER (Number of seconds, RFC 5032 WITHIN)
//	SAVEDBEFORE SAVEDON SAVEDSINCE (Date, RFC 8514); SAVEDATESUPPORTED
//	EMAILID THREADID (Value, an objectid, RFC 8474 §6)
type SearchKey struct {
	Op       string
	Value    string
	Field    string
	Date     time.Time
	Number   int64
	Set      *SeqSet
	Children []*SearchKey
}

// FetchArgs: FETCH (RFC 9051 §6.4.5), with CHANGEDSINCE and VANISHED
// (RFC 7162 §3.1.4, §3.2.6). Macros ALL, FAST and FULL are expanded.
type FetchArgs struct {
	Set          SeqSet
	Items        []FetchItem
	ChangedSince uint64
	Vanished     bool
	Partial      *PartialRange // RFC 9394 §3.3
}

// FetchItem is one fetch attribute. Name is upper case, one of: ENVELOPE,
// FLAGS, INTERNALDATE, RFC822, RFC822.HEADER, RFC822.SIZE, RFC822.TEXT,
// BODY (structure without extensions, when Section is nil), BODYSTRUCTURE,
// UID, BODY[...] as Name "BODY" with Section set (Peek for BODY.PEEK),
// BINARY / BINARY.SIZE (RFC 3516, Section set, Peek for BINARY.PEEK),
// MODSEQ (RFC 7162), SAVEDATE (RFC 8514), EMAILID and THREADID (RFC
// 8474), PREVIEW (RFC 8970, Lazy for its LAZY modifier).
type FetchItem struct {
	Name    string
	Peek    bool
	Lazy    bool
	Section *Section
	Partial *Partial
}

// Section is a body section: part numbers, then a specifier.
type Section struct {
	Part      []int  // 1-based part path; empty for the whole message
	Specifier string // "", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"
	Fields    []string
}

// Partial is <offset.count>.
type Partial struct{ Offset, Count int64 }

// StoreArgs: STORE (RFC 9051 §6.4.6) with UNCHANGEDSINCE (RFC 7162).
type StoreArgs struct {
	Set            SeqSet
	Op             StoreOp
	Silent         bool
	Flags          []string
	UnchangedSince uint64
	// HasUnchangedSince tells UNCHANGEDSINCE 0 (which always fails, RFC
	// 7162 §3.1.3) from no UNCHANGEDSINCE.
	HasUnchangedSince bool
}

// StoreOp is FLAGS, +FLAGS or -FLAGS.
type StoreOp int

// The STORE operations.
const (
	StoreReplace StoreOp = iota
	StoreAdd
	StoreRemove
)

// CopyArgs: COPY and MOVE (RFC 6851).
type CopyArgs struct {
	Set     SeqSet
	Mailbox string
}

// ExpungeArgs: UID EXPUNGE (UIDPLUS, RFC 4315 §2.1).
type ExpungeArgs struct{ Set SeqSet }

// SortArgs: SORT (RFC 5256), criteria upper case: ARRIVAL CC DATE FROM
// SIZE SUBJECT TO, DISPLAYFROM DISPLAYTO (RFC 5957), each possibly
// reversed.
type SortArgs struct {
	Criteria []SortCriterion
	Charset  string
	Key      *SearchKey
	// RETURN options (ESORT and CONTEXT=SORT, RFC 5267): as SearchArgs.
	Return    []string
	HasReturn bool
	Partial   *PartialRange
}

// SortCriterion is one sort key.
type SortCriterion struct {
	Key     string
	Reverse bool
}

// ThreadArgs: THREAD (RFC 5256): ORDEREDSUBJECT or REFERENCES.
type ThreadArgs struct {
	Algorithm string
	Charset   string
	Key       *SearchKey
}

// QuotaArgs: GETQUOTA, and SETQUOTA (refused: quotas are set by the
// operator) with its resource limits.
type QuotaArgs struct {
	Root   string
	Limits map[string]int64 // SETQUOTA only, resource names upper case
}

// IDArgs: ID (RFC 2971); nil Params for NIL.
type IDArgs struct{ Params map[string]string }

// CompressArgs: COMPRESS (RFC 4978): DEFLATE.
type CompressArgs struct{ Mechanism string }

// SearchKey is the search program of a SEARCH, SORT or THREAD command,
// nil for any other.
func (c *Command) SearchKey() *SearchKey {
	switch a := c.Args.(type) {
	case *SearchArgs:
		return a.Key
	case *SortArgs:
		return a.Key
	case *ThreadArgs:
		return a.Key
	}
	return nil
}
