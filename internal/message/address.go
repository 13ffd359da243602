package message

import (
	"strings"

	"github.com/emersion/go-message/mail"
)

// parseAddressList parses an address-list (RFC 5322 §3.4) into IMAP address
// structures, groups marked as RFC 9051 §7.5.2 describes. It is lenient:
// the list is split at the top-level commas and group delimiters, each
// mailbox is parsed by go-message's mail package, and one it rejects is
// taken apart as well as can be instead of being dropped. A group without
// a name contributes its members only.
func parseAddressList(v string) []Address {
	var out []Address
	group := 0 // 0: none open, 1: a named group, 2: an unnamed one
	start := 0
	quote, literal := false, false
	comment, angle := 0, false
	flush := func(end int) {
		if a, ok := parseMailbox(v[start:end]); ok {
			out = append(out, a)
		}
		start = end + 1
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case quote:
			if c == '\\' {
				i++
			} else if c == '"' {
				quote = false
			}
		case comment > 0:
			switch c {
			case '\\':
				i++
			case '(':
				comment++
			case ')':
				comment--
			}
		case literal:
			if c == '\\' {
				i++
			} else if c == ']' {
				literal = false
			}
		case c == '"':
			quote = true
		case c == '(':
			comment = 1
		case c == '[':
			literal = true
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case angle:
			// A route ("<@a,@b:x@y>", RFC 5322 §4.4) holds "," and ":".
		case c == ',':
			flush(i)
		case c == ':' && group == 0:
			group = 2
			if name := clean(phrase(v[start:i])); name != "" {
				group = 1
				out = append(out, Address{Mailbox: name})
			}
			start = i + 1
		case c == ';':
			flush(i)
			if group == 1 {
				out = append(out, Address{})
			}
			group = 0
		}
	}
	flush(len(v))
	if group == 1 {
		out = append(out, Address{}) // RFC 5322 requires the ";"; be lenient
	}
	return out
}

// parseMailbox parses one mailbox (RFC 5322 §3.4): display name and
// addr-spec. ok is false when there is nothing but white space and comments.
func parseMailbox(s string) (Address, bool) {
	if a, err := mail.ParseAddress(s); err == nil {
		local, host := splitAddrSpec(a.Address)
		if local != MissingMailbox {
			local = quoteLocalPart(local)
		}
		// Encoded words inside a quoted string are not to be decoded (RFC
		// 2047 §5), but mailers send them and readers decode them.
		return Address{Name: decodeText(a.Name), Mailbox: clean(local), Host: clean(host)}, true
	}
	var name, spec string
	if lt := angleStart(s); lt >= 0 {
		name = phrase(s[:lt])
		spec = s[lt+1:]
		if gt := strings.IndexByte(spec, '>'); gt >= 0 {
			spec = spec[:gt]
		}
		// RFC 5322 §3.2.2, §4.4: CFWS may surround every token of the
		// angle-addr, as in "<user (c)@ (c) example.org>".
		spec = stripCFWS(spec)
	} else {
		spec = strings.Join(strings.Fields(phrase(s)), "")
	}
	var route string
	if strings.HasPrefix(spec, "@") {
		// obs-route (RFC 5322 §4.4): "@a,@b:" before the addr-spec, which
		// IMAP reports as the addr-adl (RFC 3501 §7.4.2 "at-domain-list
		// (source route)").
		if i := strings.LastIndexByte(spec, ':'); i >= 0 {
			route, spec = spec[:i], spec[i+1:]
		}
	}
	if spec == "" && name == "" {
		return Address{}, false
	}
	local, host := splitAddrSpec(spec)
	return Address{Name: decodeText(name), Route: clean(route), Mailbox: clean(local), Host: clean(host)}, true
}

// stripCFWS removes the comments and white space (CFWS, RFC 5322 §3.2.2)
// between the tokens of an addr-spec or obs-route, keeping quoted strings
// (unfolded) and domain literals.
func stripCFWS(s string) string {
	var b strings.Builder
	l := lexer{s: s}
	for {
		l.cfws()
		if l.eof() {
			return b.String()
		}
		switch c := l.s[l.i]; c {
		case '"':
			start := l.i
			l.quoted()
			b.WriteString(strings.NewReplacer("\r", "", "\n", "").Replace(l.s[start:l.i]))
		case '[':
			for !l.eof() {
				c := l.s[l.i]
				l.i++
				if c > ' ' {
					b.WriteByte(c)
				}
				if c == ']' {
					break
				}
			}
		default:
			b.WriteByte(c)
			l.i++
		}
	}
}

// splitAddrSpec splits local-part "@" domain at the last "@", with
// placeholders for a missing half.
func splitAddrSpec(spec string) (local, host string) {
	local = spec
	if i := strings.LastIndexByte(spec, '@'); i >= 0 {
		local, host = spec[:i], spec[i+1:]
	}
	if local == "" {
		local = MissingMailbox
	}
	if host == "" {
		host = MissingHost
	}
	return local, host
}

// quoteLocalPart quotes a local part that is not a dot-atom (RFC 5322
// §3.4.1), as net/mail returns it unquoted.
func quoteLocalPart(local string) string {
	dotAtom := !strings.HasPrefix(local, ".") && !strings.HasSuffix(local, ".") && !strings.Contains(local, "..")
	for i := 0; dotAtom && i < len(local); i++ {
		c := local[i]
		// atext: token characters plus "/", "=" and "?"; UTF-8 (RFC 6532).
		dotAtom = c >= 0x80 || isTokenChar(c) || strings.IndexByte("/=?", c) >= 0
	}
	if dotAtom {
		return local
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(local) + `"`
}

// angleStart returns the index of the first "<" outside quoted strings and
// comments, or -1.
func angleStart(s string) int {
	l := lexer{s: s}
	for {
		l.cfws()
		if l.eof() {
			return -1
		}
		switch l.s[l.i] {
		case '<':
			return l.i
		case '"':
			l.quoted()
		default:
			l.i++
		}
	}
}

// phrase returns the words of an RFC 5322 phrase joined by single spaces:
// comments dropped, quoted strings unquoted.
func phrase(s string) string {
	l := lexer{s: s}
	var words []string
	for {
		l.cfws()
		if l.eof() {
			return strings.Join(words, " ")
		}
		if l.s[l.i] == '"' {
			words = append(words, l.quoted())
			continue
		}
		start := l.i
		for !l.eof() && !strings.ContainsRune(" \t\r\n(\"", rune(l.s[l.i])) {
			l.i++
		}
		words = append(words, l.s[start:l.i])
	}
}

// formatAddressList renders addresses as display text for SEARCH, e.g.
// `Alice <a@x>, b@y, Team: c@z;`.
func formatAddressList(addrs []Address) string {
	var items, members []string
	group := ""
	inGroup := false
	endGroup := func() {
		if len(members) > 0 {
			group += " " + strings.Join(members, ", ")
		}
		items = append(items, group+";")
		inGroup, members = false, nil
	}
	for _, a := range addrs {
		switch {
		case a == Address{}:
			if inGroup {
				endGroup()
			}
		case a.Host == "":
			inGroup, group, members = true, a.Mailbox+":", nil
		default:
			s := a.Mailbox
			if a.Host != MissingHost {
				s += "@" + a.Host
			}
			if a.Name != "" {
				s = a.Name + " <" + s + ">"
			}
			if inGroup {
				members = append(members, s)
			} else {
				items = append(items, s)
			}
		}
	}
	if inGroup {
		endGroup()
	}
	return strings.Join(items, ", ")
}
