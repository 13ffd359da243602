package imapserver

import (
	"bytes"
	"errors"
	"strconv"
	"strings"

	"postel/internal/imap"
	"postel/internal/store"
)

// METADATA and METADATA-SERVER (RFC 5464): annotations on the server (for
// the logged-in account: mailbox "") and on each mailbox, kept by the
// store's Metadata role. On the session's own mailboxes and the server,
// /private and /shared entries are both the account's own. On a mailbox
// shared with the session (shared.go), the entries are its owner's:
// GETMETADATA gives the /shared ones and SETMETADATA changes them, as
// counted against the owner's limits; the owner's /private entries stay
// the owner's, never shown. The session cannot keep private entries of
// its own there: the store keeps an account's entries on its own
// mailboxes, and entries of grantees on the owner's mailbox would be left
// behind when the owner deletes it unless an index let the delete find
// them (a migration). So SETMETADATA of a /private entry on a shared
// mailbox is refused with [METADATA NOPRIVATE] (RFC 5464 §4.3), and
// GETMETADATA of /private entries there finds none. The limits are the store's:
// store.MaxMetadataValue per value ([METADATA MAXSIZE]),
// store.MaxMetadataEntries entries ([METADATA TOOMANY]) and
// store.MaxMetadataTotal octets ([OVERQUOTA]) per account. Unsolicited
// METADATA responses are sent only when NOTIFY asks for them (notify.go).

// metadataStore is the store's Metadata role, nil when it has none: then
// METADATA is neither advertised nor served.
func (s *session) metadataStore() store.Metadata {
	md, _ := s.srv.st.(store.Metadata)
	return md
}

// metadataRef is the mailbox of a METADATA command: "" is the server,
// the account's own; a name in the shared namespace is resolved (resolve,
// shared.go) and needs the rights RFC 5464 §3.3 names: "users can only
// set and retrieve private or shared mailbox annotations on a mailbox on
// which they have the "l" right and any one of the "r", "s", "w", "i", or
// "p" rights". Setting /shared entries there needs w as well: they are
// seen by every user of the mailbox, as keywords are, which RFC 4314 §4
// gives to w; a session that may only read the mailbox changes nothing
// of it. Without l (nor r), the mailbox is answered as one that does not
// exist, as every command does (resolve).
func (s *session) metadataRef(name string, setShared bool) (mailboxRef, error) {
	if name == "" {
		return mailboxRef{owner: s.user.AccountID, rights: allRights}, nil
	}
	ref, err := s.parseName(name)
	if err != nil || (!ref.shared() && !ref.virtual) {
		return ref, err
	}
	ref, _, err = s.resolve(name, rightLookup)
	if err != nil {
		return ref, err
	}
	if ref.rights&(rightRead|rightSeen|rightWrite|rightInsert|rightPost) == 0 {
		return ref, no(codeNoPerm, "Permission denied: the l right and one of r, s, w, i or p are needed")
	}
	if setShared && !ref.rights.has(rightWrite) {
		return ref, no(codeNoPerm, "Permission denied: the w right is needed to change shared entries")
	}
	return ref, nil
}

// isPrivateEntry reports whether a canonical entry name is under /private.
func isPrivateEntry(name string) bool {
	return name == "/private" || strings.HasPrefix(name, "/private/")
}

// metadataErr maps the store's errors of SetMetadata and Metadata to
// their responses (RFC 5464 §4.3).
func metadataErr(err error) error {
	switch {
	case errors.Is(err, store.ErrMetadataTooBig):
		return no(codeMetadataMaxSize, "Metadata value too large")
	case errors.Is(err, store.ErrMetadataTooMany):
		return no(codeMetadataTooMany, "Too many metadata entries")
	case errors.Is(err, store.ErrQuota):
		return no(codeOverQuota, "Metadata of this account too large")
	case errors.Is(err, store.ErrNotFound):
		return noNoMailbox
	case errors.Is(err, store.ErrInvalid):
		return bad("Invalid metadata entry")
	}
	return err
}

// codeMetadataNoPrivate: RFC 5464 §4.3, private entries not kept there.
const codeMetadataNoPrivate = "METADATA NOPRIVATE"

// codeMetadataMaxSize is [METADATA MAXSIZE n] with the store's limit.
var codeMetadataMaxSize = "METADATA MAXSIZE " + strconv.Itoa(store.MaxMetadataValue)

// GETMETADATA (RFC 5464 §4.2): the entries named that exist, and with
// DEPTH 1 their children, with DEPTH infinity every descendant (§4.2.2);
// with MAXSIZE, values larger are left out and the tagged OK carries
// [METADATA LONGENTRIES n], n the size of the largest left out (§4.2.1).
// Entries that do not exist are not returned; when none is, there is no
// METADATA response.
func (s *session) cmdGetMetadata(cmd *imap.Command) error {
	md := s.metadataStore()
	if md == nil {
		return bad("Unknown command")
	}
	a := cmd.Args.(*imap.GetMetadataArgs)
	want := make([]string, len(a.Entries))
	for i, e := range a.Entries {
		// RFC 5464 §3.2: the rules of entry names.
		var err error
		if want[i], err = store.CanonicalMetadataEntry(e); err != nil {
			return bad("Invalid metadata entry name: " + e)
		}
	}
	ref, err := s.metadataRef(a.Mailbox, false)
	if err != nil {
		return err
	}
	all, err := md.Metadata(s.ctx(), ref.owner, ref.local)
	if err != nil {
		return metadataErr(err)
	}
	var out []store.MetadataEntry
	long := -1
	for _, e := range all {
		if !metadataWanted(e.Name, want, a.Depth) {
			continue
		}
		if ref.shared() && isPrivateEntry(e.Name) {
			continue // the owner's own (RFC 5464 §3.3: private to the user who set it)
		}
		if a.MaxSize >= 0 && int64(len(e.Value)) > a.MaxSize {
			long = max(long, len(e.Value))
			continue
		}
		out = append(out, e)
	}
	if len(out) > 0 {
		// RFC 5464 §4.4.1: METADATA mailbox (entry value ...).
		s.w.Atom("* METADATA ")
		s.w.Mailbox(ref.name)
		s.w.Atom(" (")
		for i, e := range out {
			if i > 0 {
				s.w.SP()
			}
			s.w.AString(e.Name)
			s.w.SP()
			if err := s.writeMetadataValue(e.Value); err != nil {
				return abort(err)
			}
		}
		s.w.Atom(")")
		s.w.CRLF()
	}
	if long >= 0 {
		return okCode("METADATA LONGENTRIES "+strconv.Itoa(long), "GETMETADATA completed")
	}
	return nil
}

// metadataWanted reports whether entry is asked for: named, or below a
// name by at most depth levels (-1: any).
func metadataWanted(entry string, names []string, depth int) bool {
	for _, n := range names {
		if entry == n {
			return true
		}
		if depth == 0 || !strings.HasPrefix(entry, n+"/") {
			continue
		}
		if depth < 0 || !strings.Contains(entry[len(n)+1:], "/") {
			return true
		}
	}
	return false
}

// writeMetadataValue writes a value (RFC 5464 §5: value = nstring /
// literal8): a string, or a literal8 when it holds NUL, which no other
// string may.
func (s *session) writeMetadataValue(v []byte) error {
	if bytes.IndexByte(v, 0) >= 0 {
		return s.w.Literal8(int64(len(v)), bytes.NewReader(v))
	}
	s.w.String(string(v))
	return nil
}

// SETMETADATA (RFC 5464 §4.3): sets the entries given, NIL removing one;
// all or none. Entry names must start with /private/ or /shared/ and,
// under /private/vendor/ and /shared/vendor/, name a vendor and an entry
// below it (§3.2).
func (s *session) cmdSetMetadata(cmd *imap.Command) error {
	md := s.metadataStore()
	if md == nil {
		return bad("Unknown command")
	}
	a := cmd.Args.(*imap.SetMetadataArgs)
	entries := make([]store.MetadataEntry, len(a.Entries))
	private, shared := false, false
	for i, e := range a.Entries {
		c, err := store.CanonicalMetadataEntry(e.Name)
		if err != nil || c == "/private" || c == "/shared" {
			return bad("Invalid metadata entry name: " + e.Name)
		}
		for _, v := range []string{"/private/vendor", "/shared/vendor"} {
			if (c == v || strings.HasPrefix(c, v+"/")) && strings.Count(c, "/") < 4 {
				return bad("A vendor entry names its vendor and an entry below: " + e.Name)
			}
		}
		entries[i] = store.MetadataEntry{Name: c, Value: e.Value}
		if isPrivateEntry(c) {
			private = true
		} else {
			shared = true
		}
	}
	ref, err := s.metadataRef(a.Mailbox, shared)
	if err != nil {
		return err
	}
	if ref.shared() && private {
		// RFC 5464 §4.3: private annotations not supported on this
		// mailbox: NO [METADATA NOPRIVATE], and nothing is set.
		return no(codeMetadataNoPrivate, "Private entries cannot be kept on a mailbox shared with you; use /shared")
	}
	return metadataErr(md.SetMetadata(s.ctx(), ref.owner, ref.local, entries))
}
