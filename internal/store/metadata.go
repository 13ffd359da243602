package store

import (
	"context"
	"fmt"
	"strings"
)

// METADATA (RFC 5464): annotations on the server as a whole (for one
// account: mailbox "") and on each mailbox. Entries are named by a
// slash-separated path under /private or /shared; without sharing between
// accounts both are the account's own. A mailbox's entries go with it
// when it is deleted and follow it when it is renamed (its ID stays).

// MetadataEntry is one annotation: Name is canonical (lower case,
// CanonicalMetadataEntry), Value its octets. In SetMetadata a nil Value
// removes the entry; an empty non-nil Value is a value.
type MetadataEntry struct {
	Name  string
	Value []byte
}

// Limits of every account's metadata, always on.
const (
	// MaxMetadataValue is the largest value, in octets.
	MaxMetadataValue = 64 << 10
	// MaxMetadataTotal bounds the octets of every entry's name and value
	// of one account, server and mailbox entries together.
	MaxMetadataTotal = 1 << 20
	// MaxMetadataEntries bounds the entries of one account.
	MaxMetadataEntries = 1000
	// MaxMetadataName is the longest entry name, in octets.
	MaxMetadataName = 1024
)

// Errors of SetMetadata beyond ErrInvalid and ErrNotFound; both are
// ErrQuota too.
var (
	// ErrMetadataTooBig: a value is larger than MaxMetadataValue.
	ErrMetadataTooBig = fmt.Errorf("%w: metadata value too large", ErrQuota)
	// ErrMetadataTooMany: the account would hold more than
	// MaxMetadataEntries entries.
	ErrMetadataTooMany = fmt.Errorf("%w: too many metadata entries", ErrQuota)
)

// CanonicalMetadataEntry checks an entry name against RFC 5464 §3.2 and
// returns it in lower case (entry names are case-insensitive): it starts
// with "/private" or "/shared", has no "*" or "%" (they are LIST-style
// wildcards), no character outside printable ASCII, no two consecutive
// "/" and no "/" at its end. The bare "/private" and "/shared" pass (a
// GETMETADATA with DEPTH may name them); SetMetadata refuses them.
func CanonicalMetadataEntry(name string) (string, error) {
	if len(name) == 0 || len(name) > MaxMetadataName {
		return "", fmt.Errorf("%w: metadata entry name length %d", ErrInvalid, len(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c < 0x20 || c > 0x7e:
			return "", fmt.Errorf("%w: metadata entry name with character %#x", ErrInvalid, c)
		case c == '*' || c == '%':
			return "", fmt.Errorf("%w: metadata entry name with %q", ErrInvalid, c)
		case c == '/' && i > 0 && name[i-1] == '/':
			return "", fmt.Errorf("%w: metadata entry name with \"//\"", ErrInvalid)
		}
	}
	if strings.HasSuffix(name, "/") {
		return "", fmt.Errorf("%w: metadata entry name ends with \"/\"", ErrInvalid)
	}
	name = strings.ToLower(name)
	if name != "/private" && name != "/shared" && !strings.HasPrefix(name, "/private/") && !strings.HasPrefix(name, "/shared/") {
		return "", fmt.Errorf("%w: metadata entry name outside /private and /shared", ErrInvalid)
	}
	return name, nil
}

// CheckMetadataSet checks what SetMetadata is given, canonicalizing the
// names in place: ErrInvalid for a bad or bare-prefix name or one named
// twice, ErrMetadataTooBig for a value over MaxMetadataValue. The stores
// call it first.
func CheckMetadataSet(entries []MetadataEntry) error {
	seen := map[string]bool{}
	for i := range entries {
		e := &entries[i]
		name, err := CanonicalMetadataEntry(e.Name)
		if err != nil {
			return err
		}
		if name == "/private" || name == "/shared" {
			return fmt.Errorf("%w: metadata entry %s cannot hold a value", ErrInvalid, name)
		}
		if seen[name] {
			return fmt.Errorf("%w: metadata entry %s given twice", ErrInvalid, name)
		}
		seen[name] = true
		e.Name = name
		if len(e.Value) > MaxMetadataValue {
			return fmt.Errorf("%w: %d octets", ErrMetadataTooBig, len(e.Value))
		}
	}
	return nil
}

// Metadata is the role of a store that keeps METADATA annotations. Both
// stores implement it beside Store. mailbox "" names the account's server
// entries; any other name is a mailbox of the account (ErrNotFound when
// there is none).
type Metadata interface {
	// Metadata returns the entries of the mailbox, sorted by name.
	Metadata(ctx context.Context, accountID int64, mailbox string) ([]MetadataEntry, error)
	// SetMetadata sets (or, with a nil Value, removes) entries of the
	// mailbox, all or none (RFC 5464 §4.3), after CheckMetadataSet.
	// ErrMetadataTooMany past MaxMetadataEntries, ErrQuota past
	// MaxMetadataTotal. It announces a ChangeMetadata (MailboxID 0 for
	// the server entries) when something changed.
	SetMetadata(ctx context.Context, accountID int64, mailbox string, entries []MetadataEntry) error
}
