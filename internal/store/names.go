package store

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// CanonicalAddress lower-cases an address and checks its shape
// (localpart@domain, or "@domain" for a catch-all when allowCatchAll).
func CanonicalAddress(addr string, allowCatchAll bool) (string, error) {
	a := strings.ToLower(strings.TrimSpace(addr))
	at := strings.LastIndexByte(a, '@')
	if at < 0 || at == len(a)-1 || (at == 0 && !allowCatchAll) || len(a) > 320 || !utf8.ValidString(a) {
		return "", fmt.Errorf("%w: address %q", ErrInvalid, addr)
	}
	if strings.ContainsAny(a, " \t\r\n<>,;\"") {
		return "", fmt.Errorf("%w: address %q", ErrInvalid, addr)
	}
	if err := checkDomain(a[at+1:]); err != nil {
		return "", err
	}
	return a, nil
}

// CanonicalDomain lower-cases a domain name and checks its shape.
func CanonicalDomain(name string) (string, error) {
	d := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
	return d, checkDomain(d)
}

func checkDomain(d string) error {
	if d == "" || len(d) > 253 {
		return fmt.Errorf("%w: domain %q", ErrInvalid, d)
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return fmt.Errorf("%w: domain %q", ErrInvalid, d)
		}
		for _, r := range label {
			if !(r == '-' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r >= 0x80) {
				return fmt.Errorf("%w: domain %q", ErrInvalid, d)
			}
		}
	}
	return nil
}

// DomainOf returns the part after the last "@".
func DomainOf(addr string) string {
	return addr[strings.LastIndexByte(addr, '@')+1:]
}

// MaxMailboxes bounds the mailboxes of one account (LIST and RENAME cost
// grows with their number).
const MaxMailboxes = 10000

// MaxMailboxName bounds mailbox names, in bytes.
const MaxMailboxName = 1000

// CanonicalMailbox checks a mailbox name ("/" separates levels) and spells
// INBOX, as the first level, in upper case (RFC 9051 §5.1: INBOX is
// case-insensitive).
func CanonicalMailbox(name string) (string, error) {
	if name == "" || len(name) > MaxMailboxName || !utf8.ValidString(name) ||
		strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.Contains(name, "//") {
		return "", fmt.Errorf("%w: mailbox name %q", ErrInvalid, name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '*' || r == '%' {
			return "", fmt.Errorf("%w: mailbox name %q", ErrInvalid, name)
		}
	}
	first, rest, nested := strings.Cut(name, "/")
	if strings.EqualFold(first, "INBOX") {
		if nested {
			return "INBOX/" + rest, nil
		}
		return "INBOX", nil
	}
	return name, nil
}

// System flag bits, as stored.
const (
	bitSeen = 1 << iota
	bitAnswered
	bitFlagged
	bitDeleted
	bitDraft
)

var systemFlags = []struct {
	name string
	bit  int
}{
	{FlagAnswered, bitAnswered}, {FlagDeleted, bitDeleted}, {FlagDraft, bitDraft},
	{FlagFlagged, bitFlagged}, {FlagSeen, bitSeen},
}

// MaxKeywords bounds the keywords one message may carry, MaxKeywordLen
// the length of one.
const (
	MaxKeywords   = 64
	MaxKeywordLen = 100
)

// ErrTooManyKeywords (an ErrInvalid) says a message would carry more than
// MaxKeywords keywords; ErrKeywordTooLong one longer than MaxKeywordLen.
var (
	ErrTooManyKeywords = fmt.Errorf("%w: more than %d keywords on a message", ErrInvalid, MaxKeywords)
	ErrKeywordTooLong  = fmt.Errorf("%w: keyword longer than %d octets", ErrInvalid, MaxKeywordLen)
)

// SplitFlags turns flags into system flag bits and a keyword list sorted
// and deduplicated case-insensitively, each keyword as first given: RFC
// 9051 §2.3.2 makes flags case-insensitive, and the server returns a
// keyword with the case it was set with. \Recent and unknown system flags
// are refused.
func SplitFlags(flags []string) (bits int, keywords []string, err error) {
	seen := map[string]bool{}
outer:
	for _, f := range flags {
		if strings.HasPrefix(f, `\`) {
			for _, sf := range systemFlags {
				if strings.EqualFold(f, sf.name) {
					bits |= sf.bit
					continue outer
				}
			}
			return 0, nil, fmt.Errorf("%w: flag %q", ErrInvalid, f)
		}
		if len(f) > MaxKeywordLen {
			return 0, nil, ErrKeywordTooLong
		}
		if f == "" || strings.ContainsAny(f, " ()[]{%*\"\\\x7f") {
			return 0, nil, fmt.Errorf("%w: keyword %q", ErrInvalid, f)
		}
		for _, r := range f {
			if r <= 0x20 || r >= 0x7f {
				return 0, nil, fmt.Errorf("%w: keyword %q", ErrInvalid, f)
			}
		}
		k := strings.ToLower(f)
		if !seen[k] {
			seen[k] = true
			keywords = append(keywords, f)
		}
	}
	if len(keywords) > MaxKeywords {
		return 0, nil, ErrTooManyKeywords
	}
	SortKeywords(keywords)
	return bits, keywords, nil
}

// SortKeywords sorts keywords as the store keeps them: case-insensitively
// (then by case, for a stable order).
func SortKeywords(kw []string) {
	sort.Slice(kw, func(i, j int) bool {
		a, b := strings.ToLower(kw[i]), strings.ToLower(kw[j])
		if a != b {
			return a < b
		}
		return kw[i] < kw[j]
	})
}

// HasKeyword reports whether kw holds k, case-insensitively (RFC 9051
// §2.3.2).
func HasKeyword(kw []string, k string) bool {
	for _, x := range kw {
		if strings.EqualFold(x, k) {
			return true
		}
	}
	return false
}

// KeywordCase gives each of kws the case it already has in the mailbox,
// so that a keyword keeps the case it was first set with there (RFC 9051
// §2.3.2: keywords match case-insensitively). known lists keywords of the
// mailbox already at hand; lookup finds a keyword in the mailbox
// (case-insensitively) and returns it as stored, or "" when no message
// has it.
func KeywordCase(kws []string, known []string, lookup func(k string) (string, error)) error {
	for i, k := range kws {
		if j := slices.IndexFunc(known, func(x string) bool { return strings.EqualFold(x, k) }); j >= 0 {
			kws[i] = known[j]
			continue
		}
		got, err := lookup(k)
		if err != nil {
			return err
		}
		if got != "" {
			kws[i] = got
		}
	}
	return nil
}

// KeywordListCase is KeywordCase for a space-separated keyword list (as
// PreparedTarget.Keywords), which it returns re-sorted.
func KeywordListCase(list string, lookup func(k string) (string, error)) (string, error) {
	return NewKeywordSpeller(lookup).List(list)
}

// KeywordSpeller gives keyword lists the case their keywords have in one
// mailbox, for a COPY or MOVE into it (RFC 9051 §2.3.2: keywords match
// case-insensitively, and one keeps the case it was first set with in the
// mailbox, whichever spelling the source mailbox has). It remembers what
// it found, and the spelling it let in first where the mailbox had none,
// so that the copies of one command agree even before any is stored.
type KeywordSpeller struct {
	lookup func(k string) (string, error) // as KeywordCase's
	known  map[string]string              // lower-case form -> spelling
}

// NewKeywordSpeller returns a speller for the mailbox that lookup looks in.
func NewKeywordSpeller(lookup func(k string) (string, error)) *KeywordSpeller {
	return &KeywordSpeller{lookup: lookup, known: map[string]string{}}
}

// List respells a space-separated keyword list (as the stores keep them)
// and returns it re-sorted.
func (ks *KeywordSpeller) List(list string) (string, error) {
	if list == "" {
		return "", nil
	}
	kws := strings.Split(list, " ")
	for i, k := range kws {
		low := strings.ToLower(k)
		got, ok := ks.known[low]
		if !ok {
			var err error
			if got, err = ks.lookup(k); err != nil {
				return "", err
			}
			if got == "" {
				got = k
			}
			ks.known[low] = got
		}
		kws[i] = got
	}
	SortKeywords(kws)
	return strings.Join(kws, " "), nil
}

// KeywordLike is the LIKE pattern (escape character `\`) that matches a
// space-separated keyword list holding k, given the list between spaces
// (' ' || keywords || ' '). Keywords hold no `%` nor `\` (SplitFlags), so
// only `_` needs escaping. The match is case-insensitive where LIKE is
// (SQLite, for ASCII) or ILIKE is used (PostgreSQL).
func KeywordLike(k string) string {
	return "% " + strings.ReplaceAll(k, "_", `\_`) + " %"
}

// FindKeyword returns the keyword of the space-separated list s that
// equals k case-insensitively, or "".
func FindKeyword(s, k string) string {
	for _, x := range strings.Split(s, " ") {
		if strings.EqualFold(x, k) {
			return x
		}
	}
	return ""
}

// JoinFlags is the inverse of SplitFlags: system flags then keywords.
func JoinFlags(bits int, keywords []string) []string {
	out := make([]string, 0, len(keywords)+2)
	for _, sf := range systemFlags {
		if bits&sf.bit != 0 {
			out = append(out, sf.name)
		}
	}
	return append(out, keywords...)
}

// SeenBit and DeletedBit are the stored bits of \Seen and \Deleted, for
// queries that count.
const (
	SeenBit    = bitSeen
	DeletedBit = bitDeleted
)

// Bounds of an account's junk filter data.
const (
	// MaxJunkRules bounds the allow and block rules of one account.
	MaxJunkRules = 1000
	// MaxJunkPattern bounds a canonical rule pattern or sender, in bytes.
	MaxJunkPattern = 320
	// MaxReputations bounds the senders one account has a reputation
	// for; past it the least recently updated are forgotten.
	MaxReputations = 10000
)

// CanonicalJunkPattern checks and canonicalizes a junk rule pattern: an
// address ("User@Example.COM" -> "user@example.com") or a domain, which
// stands for itself and its subdomains ("@example.com" is read as
// "example.com"). Domains are kept as lower-case A-labels (RFC 5890), so
// a rule written with U-labels matches mail whose From uses A-labels, and
// the other way round.
func CanonicalJunkPattern(pattern string) (string, error) {
	p := strings.TrimSpace(pattern)
	var out string
	var err error
	if at := strings.LastIndexByte(p, '@'); at > 0 {
		out, err = CanonicalSender(p)
	} else {
		out, err = junkDomain(strings.TrimPrefix(p, "@"))
	}
	if err != nil || len(out) > MaxJunkPattern {
		return "", fmt.Errorf("%w: junk pattern %q: want an address (user@example.com) or a domain (example.com, which covers its subdomains)", ErrInvalid, pattern)
	}
	return out, nil
}

// CanonicalSender checks and canonicalizes a sender address for junk
// rules and reputations: lower case, the domain as A-labels.
func CanonicalSender(addr string) (string, error) {
	bad := fmt.Errorf("%w: sender address %q", ErrInvalid, addr)
	a := strings.TrimSpace(addr)
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || !utf8.ValidString(a) {
		return "", bad
	}
	local := strings.ToLower(a[:at])
	for _, r := range local {
		if r <= 0x20 || r == 0x7f || strings.ContainsRune("<>,;\"\\()[]", r) {
			return "", bad
		}
	}
	d, err := junkDomain(a[at+1:])
	if err != nil {
		return "", bad
	}
	out := local + "@" + d
	if len(out) > MaxJunkPattern {
		return "", bad
	}
	return out, nil
}

// junkDomain returns d in lower case with A-labels, or an error.
func junkDomain(d string) (string, error) {
	d = strings.ToLower(strings.TrimSuffix(d, "."))
	for i := 0; i < len(d); i++ {
		if d[i] >= utf8.RuneSelf {
			a, err := idna.Lookup.ToASCII(d)
			if err != nil {
				return "", err
			}
			d = a
			break
		}
	}
	if err := checkDomain(d); err != nil {
		return "", err
	}
	for i := 0; i < len(d); i++ {
		if d[i] >= utf8.RuneSelf {
			return "", fmt.Errorf("%w: domain %q", ErrInvalid, d)
		}
	}
	return d, nil
}

// MaxSharedFileSize bounds one file of store.SharedFiles (a DKIM key in
// PEM is under 2 KiB, the SRS secret 32 bytes).
const MaxSharedFileSize = 64 << 10

// CheckSharedFileName checks the name of a file of SharedFiles: a path
// relative to data_dir, slash-separated, naming one of the secrets the
// nodes share and nothing else: "srs.key", "objectid.key" (the secret of
// the IMAP OBJECTID identifiers), or "dkim/DOMAIN/SELECTOR.key"
// with DOMAIN a lower-case host name in A-label form (as internal/dkim
// names its directories) and SELECTOR lower-case letters, digits and
// hyphens, in dot-separated labels. So no name is absolute, climbs out
// with "..", or reaches any other file of data_dir.
func CheckSharedFileName(name string) error {
	bad := fmt.Errorf("%w: shared file name %q", ErrInvalid, name)
	if name == "srs.key" || name == "objectid.key" {
		return nil
	}
	parts := strings.Split(name, "/")
	if len(parts) != 3 || parts[0] != "dkim" {
		return bad
	}
	sel, ok := strings.CutSuffix(parts[2], ".key")
	if !ok || !hostLabels(parts[1], 253) || !strings.Contains(parts[1], ".") || !hostLabels(sel, 63) {
		return bad
	}
	return nil
}

// hostLabels reports whether s is at most max octets of dot-separated
// labels, each 1 to 63 of a-z, 0-9 and inner hyphens.
func hostLabels(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
