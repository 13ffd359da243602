package imapserver

// OBJECTID (RFC 8474): MAILBOXID, EMAILID and THREADID.
//
// The identifiers are derived when asked for, never stored: each is an
// HMAC-SHA256 under Config.ObjectIDKey of a kind, the account's address
// and
//   - MAILBOXID: the mailbox's UIDVALIDITY, which is the account's own, is
//     kept by RENAME and is never given to another mailbox of the account
//     (the store makes each new one above any the account had). So the
//     same name and UIDVALIDITY keep their MAILBOXID, a RENAME keeps it,
//     and none is reused (RFC 8474 §4). RENAME of INBOX moves the messages
//     into a new mailbox, with a new UIDVALIDITY, while INBOX keeps its own.
//   - EMAILID: the message's BlobID, the stored body that COPY, MOVE and
//     the copies of one delivery to the account share (they are the same
//     octets: one prefix per account), never reused (RFC 8474 §5.1: the
//     same EMAILID for the same message wherever it is, never changing).
//   - THREADID: the root of the message's thread as its own header fields
//     name it: the first References id (RFC 5322 §3.6.4 keeps the
//     thread's first message there; message.MaxReferences keeps it too),
//     else the In-Reply-To id, else its own Message-ID; a message with none
//     of them is a thread of its own (its BlobID). It depends on the
//     message alone, so it never changes when later messages arrive, and
//     copies (one EMAILID) share it (RFC 8474 §5.2). Messages stored before
//     the store kept In-Reply-To and References get them from a background
//     backfill after an upgrade; until it reaches them their THREADID is
//     that of their own Message-ID.
//
// Keyed and per account, because store IDs are store-wide counters: raw,
// or hashed without a secret, they would let one user count the messages
// of every other account between two of theirs. Under the key they are
// opaque, and the same message or thread root in two accounts has
// unrelated identifiers. The key outlives restarts (the server keeps it in
// data_dir and shares it between nodes), or the identifiers would change.
// Scoped by address and UIDVALIDITY rather than by store row IDs,
// MAILBOXID and THREADID survive postel store copy, which keeps those;
// EMAILID does not (the copy stores bodies anew).
//
// Form (RFC 8474 §7, §8.1): a letter naming the kind (F, M, T), then 32
// lower-case hex digits (128 bits): they start with a letter, never differ
// only in case, never hold "NIL", and EMAILIDs and THREADIDs never meet.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strconv"

	"postel/internal/imap"
	"postel/internal/imap/search"
	"postel/internal/store"
)

// MinObjectIDKey is the shortest Config.ObjectIDKey that turns OBJECTID on.
const MinObjectIDKey = 16

// objectIDs reports whether OBJECTID is on: the server has a key.
func (s *Server) objectIDs() bool { return len(s.cfg.ObjectIDKey) >= MinObjectIDKey }

// objectID derives the identifier of kind ('F', 'M' or 'T') for the
// account (its canonical address) from data.
func (s *Server) objectID(kind byte, account string, data []byte) string {
	mac := hmac.New(sha256.New, s.cfg.ObjectIDKey)
	// The address, length first, cannot run into data.
	mac.Write(binary.BigEndian.AppendUint16([]byte{kind}, uint16(len(account))))
	mac.Write([]byte(account))
	mac.Write(data)
	sum := mac.Sum(nil)
	return string(kind) + hex.EncodeToString(sum[:16])
}

func int64Bytes(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

// keyAccount is the address the identifiers of an account's mailboxes and
// messages are derived with: the owner's, so that a mailbox shared with
// the session (RFC 4314) has the identifiers its owner sees, and never
// those of one of the session's own mailboxes of the same UIDVALIDITY
// (RFC 8474 §4: MAILBOXID unique on the server).
// The last owner's address is kept (keyOwner, keyAddr): a FETCH or SEARCH
// of a shared mailbox asks for every message.
func (s *session) keyAccount(owner int64) string {
	if owner == s.user.AccountID {
		return s.user.Address
	}
	if owner == s.keyOwner {
		return s.keyAddr
	}
	if a, err := s.srv.st.AccountByID(s.ctx(), owner); err == nil {
		s.keyOwner, s.keyAddr = owner, a.Address
		return a.Address
	}
	// The owner is gone: an identifier no one else has.
	return "#" + strconv.FormatInt(owner, 10)
}

// mailboxID is the MAILBOXID of the owner's mailbox of that UIDVALIDITY.
func (s *session) mailboxID(owner int64, uidValidity uint32) string {
	return s.srv.objectID('F', s.keyAccount(owner), binary.BigEndian.AppendUint32(nil, uidValidity))
}

// emailID is the EMAILID of a message of the owner, by its BlobID.
func (s *session) emailID(owner, blobID int64) string {
	return s.srv.objectID('M', s.keyAccount(owner), int64Bytes(blobID))
}

// threadID is the THREADID of a message of the owner, from its metadata
// and BlobID.
func (s *session) threadID(owner int64, meta *store.MessageMeta, blobID int64) string {
	account := s.keyAccount(owner)
	root := meta.MessageID
	switch {
	case len(meta.References) > 0 && meta.References[0] != "":
		root = meta.References[0]
	case meta.InReplyTo != "":
		root = meta.InReplyTo
	}
	if root == "" {
		// A thread of its own: the blob, told apart from a Message-ID
		// by the leading 0 octet no msg-id has.
		return s.srv.objectID('T', account, append([]byte{0}, int64Bytes(blobID)...))
	}
	return s.srv.objectID('T', account, []byte(root))
}

// mailboxIDCode is the MAILBOXID response code (RFC 8474 §4.1, §4.2).
func (s *session) mailboxIDCode(owner int64, uidValidity uint32) string {
	return "MAILBOXID (" + s.mailboxID(owner, uidValidity) + ")"
}

// writeMailboxIDStatus writes the value of the MAILBOXID STATUS item
// (RFC 8474 §4.3: status-att-value =/ "MAILBOXID" SP "(" objectid ")").
func (s *session) writeMailboxIDStatus(mb *store.Mailbox) {
	s.w.Atom("(" + s.mailboxID(mb.AccountID, mb.UIDValidity) + ")")
}

// writeObjectIDItem writes the EMAILID or THREADID item of a FETCH
// response for v.msgs[i] (RFC 8474 §5.3: "EMAILID" SP "(" objectid ")",
// "THREADID" SP "(" objectid ")"; THREADID is never NIL here, every
// message having a thread).
func (s *session) writeObjectIDItem(name string, m *msg, meta *store.MessageMeta) {
	id := s.emailID(s.sel.owner, m.blob)
	if name == "THREADID" {
		id = s.threadID(s.sel.owner, meta, m.blob)
	}
	s.w.Atom(name + " (" + id + ")")
}

// searchObjectIDs sets the EMAILID and THREADID of a message being
// searched when the program has such keys (RFC 8474 §6).
// The keys are looked for once per search (objectIDKeys), not per message.
func (s *session) searchObjectIDs(emailID, threadID bool, sm *search.Message, m *msg, meta *store.MessageMeta) {
	if emailID {
		sm.EmailID = s.emailID(s.sel.owner, m.blob)
	}
	if meta != nil && threadID {
		sm.ThreadID = s.threadID(s.sel.owner, meta, m.blob)
	}
}

// objectIDsOff refuses the FETCH items, search keys and STATUS item of
// OBJECTID when the server has no key: the capability is not advertised
// then, and they are as unknown as any other extension's.
func (s *session) objectIDsOff(cmd *imap.Command) error {
	if s.srv.objectIDs() {
		return nil
	}
	key := cmd.SearchKey()
	var status []string
	switch a := cmd.Args.(type) {
	case *imap.FetchArgs:
		for _, it := range a.Items {
			if it.Name == "EMAILID" || it.Name == "THREADID" {
				return bad("Unknown FETCH item " + it.Name)
			}
		}
	case *imap.StatusArgs:
		status = a.Items
	case *imap.ListArgs:
		status = a.ReturnStatus
	}
	if usesKey(key, "EMAILID") || usesKey(key, "THREADID") {
		return bad("Unknown search key")
	}
	if slices.Contains(status, "MAILBOXID") {
		return bad("Unknown STATUS item MAILBOXID")
	}
	return nil
}
