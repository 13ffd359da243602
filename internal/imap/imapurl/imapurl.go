// Package imapurl parses the IMAP URLs of RFC 5092 that name a message or
// a part of one, as CATENATE (RFC 4469) takes them: absolute
// (imap://user;AUTH=*@host/INBOX;UIDVALIDITY=7/;UID=20/;SECTION=1.2) or
// relative to a base (";UID=20", resolved as RFC 3986 §5 says). It knows
// the syntax only: whether the URL names this server, this user and an
// existing message is for the caller to check.
package imapurl

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// URL is an IMAP message URL (RFC 5092, imessagepart).
type URL struct {
	User        string // enc-user decoded, "" when absent
	Auth        string // the ";AUTH=" value ("*" or a mechanism), "" when absent
	Host        string // lower case
	Port        int    // 0 when absent
	Mailbox     string // UTF-8, percent-decoded (RFC 5092)
	UIDValidity uint32 // 0 when absent
	UID         uint32
	Section     string // the section-text, decoded ("1.2", "HEADER", "1.MIME"); "" for the whole message
	// Partial is ";PARTIAL=offset[.length]"; HasPartial tells it from
	// none, Length 0 means to the end.
	HasPartial     bool
	Offset, Length int64
}

// ErrSyntax is a URL that is not an IMAP message URL this package takes.
var ErrSyntax = errors.New("imapurl: not an IMAP message URL")

// Parse resolves ref against base (an absolute IMAP URL, usually the
// selected mailbox's "imap://host/INBOX;UIDVALIDITY=7/"; "" allows only
// absolute URLs) and parses the result. URLAUTH (RFC 4467) parameters,
// queries and fragments are not taken.
func Parse(ref, base string) (*URL, error) {
	if ref == "" || strings.ContainsFunc(ref, func(c rune) bool { return c <= ' ' || c == 0x7f }) {
		return nil, ErrSyntax
	}
	u, err := url.Parse(ref)
	if err != nil {
		return nil, ErrSyntax
	}
	if !u.IsAbs() {
		if base == "" {
			return nil, ErrSyntax
		}
		b, err := url.Parse(base)
		if err != nil || !b.IsAbs() {
			return nil, ErrSyntax
		}
		u = b.ResolveReference(u)
	}
	if !strings.EqualFold(u.Scheme, "imap") || u.Opaque != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Host == "" {
		return nil, ErrSyntax
	}
	out := &URL{Host: strings.ToLower(u.Hostname())}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return nil, ErrSyntax
		}
		out.Port = n
	}
	if u.User != nil {
		// iuserinfo = enc-user [iauth] / [enc-user] iauth, iauth =
		// ";AUTH=" ("*" / enc-auth-type) (RFC 5092).
		if _, has := u.User.Password(); has {
			return nil, ErrSyntax
		}
		name := u.User.Username()
		if i := indexFold(name, ";AUTH="); i >= 0 {
			name, out.Auth = name[:i], name[i+len(";AUTH="):]
			if out.Auth == "" {
				return nil, ErrSyntax
			}
		}
		if name == "" && out.Auth == "" {
			return nil, ErrSyntax
		}
		out.User = name
	}
	if err := out.parsePath(u.EscapedPath()); err != nil {
		return nil, err
	}
	return out, nil
}

// parsePath parses "/" enc-mailbox [";UIDVALIDITY=" nz-number] "/;UID="
// nz-number ["/;SECTION=" enc-section] ["/;PARTIAL=" partial-range]
// (RFC 5092 imessagepart, in escaped form).
func (out *URL) parsePath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return ErrSyntax
	}
	p = p[1:]
	i := indexFold(p, "/;UID=")
	if i <= 0 {
		return ErrSyntax
	}
	mbox, rest := p[:i], p[i+len("/;UID="):]
	if j := indexFold(mbox, ";UIDVALIDITY="); j >= 0 {
		n, ok := nzNumber(mbox[j+len(";UIDVALIDITY="):])
		if !ok {
			return ErrSyntax
		}
		mbox, out.UIDValidity = mbox[:j], n
	}
	name, err := unescape(mbox)
	if err != nil || name == "" || strings.Contains(mbox, ";") {
		return ErrSyntax
	}
	out.Mailbox = name
	uid, rest, _ := strings.Cut(rest, "/")
	n, ok := nzNumber(uid)
	if !ok {
		return ErrSyntax
	}
	out.UID = n
	if rest == "" {
		return nil
	}
	if hasPrefixFold(rest, ";SECTION=") {
		var sec string
		sec, rest, _ = strings.Cut(rest[len(";SECTION="):], "/")
		if out.Section, err = unescape(sec); err != nil || out.Section == "" {
			return ErrSyntax
		}
		if rest == "" {
			return nil
		}
	}
	if !hasPrefixFold(rest, ";PARTIAL=") {
		return ErrSyntax // URLAUTH and anything else
	}
	// partial-range = number ["." nz-number] (RFC 5092).
	off, length, dot := strings.Cut(rest[len(";PARTIAL="):], ".")
	o, err := strconv.ParseInt(off, 10, 64)
	if err != nil || o < 0 || !digits(off) {
		return ErrSyntax
	}
	out.HasPartial, out.Offset = true, o
	if dot {
		l, err := strconv.ParseInt(length, 10, 64)
		if err != nil || l <= 0 || !digits(length) {
			return ErrSyntax
		}
		out.Length = l
	}
	return nil
}

// unescape percent-decodes an enc-mailbox or enc-section, which must be
// UTF-8 (RFC 5092).
func unescape(s string) (string, error) {
	d, err := url.PathUnescape(s)
	if err != nil || !utf8.ValidString(d) || strings.ContainsFunc(d, func(c rune) bool { return c < ' ' || c == 0x7f }) {
		return "", ErrSyntax
	}
	return d, nil
}

func digits(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(c rune) bool { return c < '0' || c > '9' })
}

// nzNumber parses a non-zero 32-bit number.
func nzNumber(s string) (uint32, bool) {
	if !digits(s) {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err == nil && n > 0
}

// indexFold is strings.Index, ASCII case-insensitive in sub (upper case).
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if hasPrefixFold(s[i:], sub) {
			return i
		}
	}
	return -1
}

// hasPrefixFold reports whether s starts with prefix (upper case), ASCII
// case-insensitively.
func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

// Base returns the URL of a mailbox that relative references resolve
// against: imap://host/<mailbox>;UIDVALIDITY=<uv>/ (RFC 5092), or
// imap://host/ when mailbox is "".
func Base(host, mailbox string, uidValidity uint32) string {
	if mailbox == "" {
		return "imap://" + host + "/"
	}
	return "imap://" + host + "/" + escapeMailbox(mailbox) + ";UIDVALIDITY=" + strconv.FormatUint(uint64(uidValidity), 10) + "/"
}

// escapeMailbox percent-encodes a mailbox name for a URL path, keeping
// the hierarchy separator "/".
func escapeMailbox(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c < 0x80 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~!$'()*+,&=:@/", c) >= 0) {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%" + strings.ToUpper(strconv.FormatUint(uint64(c)>>4, 16)+strconv.FormatUint(uint64(c)&15, 16)))
	}
	return b.String()
}
