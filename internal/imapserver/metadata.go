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
// store's Metadata role. Without sharing between accounts, /private and
// /shared entries are both the account's own; private entries are kept,
// so [METADATA NOPRIVATE] is never needed. The limits are the store's:
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

// metadataMailbox checks the mailbox of a METADATA command: "" is the
// server; any other name must be a mailbox of the account.
func metadataMailbox(name string) (string, error) {
	if name == "" {
		return "", nil
	}
	return canonical(name)
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
	name, err := metadataMailbox(a.Mailbox)
	if err != nil {
		return err
	}
	want := make([]string, len(a.Entries))
	for i, e := range a.Entries {
		// RFC 5464 §3.2: the rules of entry names.
		if want[i], err = store.CanonicalMetadataEntry(e); err != nil {
			return bad("Invalid metadata entry name: " + e)
		}
	}
	all, err := md.Metadata(s.ctx(), s.user.AccountID, name)
	if err != nil {
		return metadataErr(err)
	}
	var out []store.MetadataEntry
	long := -1
	for _, e := range all {
		if !metadataWanted(e.Name, want, a.Depth) {
			continue
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
		s.w.Mailbox(name)
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
	name, err := metadataMailbox(a.Mailbox)
	if err != nil {
		return err
	}
	entries := make([]store.MetadataEntry, len(a.Entries))
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
	}
	return metadataErr(md.SetMetadata(s.ctx(), s.user.AccountID, name, entries))
}
