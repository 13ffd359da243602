package imap

import (
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Modified UTF-7 (RFC 3501 §5.1.3) is how IMAP4rev1 clients that have not
// enabled UTF8=ACCEPT spell international mailbox names: printable US-ASCII
// other than "&" stands for itself, "&" is "&-", and every other run of
// characters is "&", the modified BASE64 (with "," for "/" and no padding)
// of its UTF-16BE encoding, and "-".

// ErrUTF7 is returned (wrapped) by DecodeUTF7 for text that is not valid
// modified UTF-7.
var ErrUTF7 = errors.New("invalid modified UTF-7")

const b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,"

// b64values maps a modified BASE64 character to its value, 0xff for others.
var b64values = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := 0; i < len(b64chars); i++ {
		t[b64chars[i]] = byte(i)
	}
	return t
}()

// printable reports whether c is printable US-ASCII, which modified UTF-7
// writes as itself (RFC 3501 §5.1.3).
func printable(c rune) bool { return c >= 0x20 && c <= 0x7e }

// EncodeUTF7 encodes a UTF-8 mailbox name as modified UTF-7. Invalid UTF-8
// sequences are encoded as U+FFFD.
func EncodeUTF7(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '&' || !printable(rune(c)) {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	var run []uint16
	flush := func() {
		if len(run) == 0 {
			return
		}
		b.WriteByte('&')
		// Pack the UTF-16BE octets 6 bits at a time.
		var acc uint32
		bits := 0
		for _, u := range run {
			for _, o := range [2]byte{byte(u >> 8), byte(u)} {
				acc = acc<<8 | uint32(o)
				bits += 8
				for bits >= 6 {
					bits -= 6
					b.WriteByte(b64chars[(acc>>bits)&0x3f])
				}
			}
		}
		if bits > 0 {
			b.WriteByte(b64chars[(acc<<(6-bits))&0x3f])
		}
		b.WriteByte('-')
		run = run[:0]
	}
	for _, c := range s {
		switch {
		case c == '&':
			flush()
			b.WriteString("&-")
		case printable(c):
			flush()
			b.WriteRune(c)
		default:
			run = utf16.AppendRune(run, c)
		}
	}
	flush()
	return b.String()
}

// DecodeUTF7 decodes a modified UTF-7 mailbox name to UTF-8. It rejects
// everything RFC 3501 §5.1.3 does not allow, so that every name has exactly
// one encoding: octets outside printable US-ASCII, a "&" without its
// closing "-", BASE64 with non-zero padding bits or an odd number of octets,
// unpaired UTF-16 surrogates, encoded printable US-ASCII, and two encoded
// runs in a row (they must be one run).
func DecodeUTF7(s string) (string, error) {
	if strings.IndexByte(s, '&') < 0 {
		for i := 0; i < len(s); i++ {
			if !printable(rune(s[i])) {
				return "", errUTF7("octet outside printable US-ASCII")
			}
		}
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	afterRun := false // the previous characters were an encoded run
	for i := 0; i < len(s); {
		c := s[i]
		if !printable(rune(c)) {
			return "", errUTF7("octet outside printable US-ASCII")
		}
		if c != '&' {
			b.WriteByte(c)
			afterRun = false
			i++
			continue
		}
		end := strings.IndexByte(s[i+1:], '-')
		if end < 0 {
			return "", errUTF7("unterminated BASE64 run")
		}
		enc := s[i+1 : i+1+end]
		i += end + 2
		if enc == "" {
			b.WriteByte('&')
			afterRun = false
			continue
		}
		if afterRun {
			return "", errUTF7("adjacent BASE64 runs")
		}
		if err := decodeRun(&b, enc); err != nil {
			return "", err
		}
		afterRun = true
	}
	return b.String(), nil
}

// decodeRun decodes one modified BASE64 run (without "&" and "-") into b.
func decodeRun(b *strings.Builder, enc string) error {
	var acc uint32
	bits := 0
	var units []uint16
	for i := 0; i < len(enc); i++ {
		v := b64values[enc[i]]
		if v == 0xff {
			return errUTF7("invalid BASE64 character")
		}
		acc = acc<<6 | uint32(v)
		bits += 6
		if bits >= 16 {
			bits -= 16
			units = append(units, uint16(acc>>bits))
		}
	}
	// What is left must be fewer than 6 zero padding bits: anything else
	// means stray octets (an odd count) or a non-shortest encoding.
	if bits >= 6 || acc&(1<<bits-1) != 0 {
		return errUTF7("bad BASE64 padding")
	}
	for j := 0; j < len(units); j++ {
		u := rune(units[j])
		switch {
		case utf16.IsSurrogate(u):
			if u >= 0xdc00 || j+1 >= len(units) {
				return errUTF7("unpaired UTF-16 surrogate")
			}
			r := utf16.DecodeRune(u, rune(units[j+1]))
			if r == utf8.RuneError {
				return errUTF7("unpaired UTF-16 surrogate")
			}
			b.WriteRune(r)
			j++
		case printable(u):
			return errUTF7("encoded printable US-ASCII character")
		default:
			b.WriteRune(u)
		}
	}
	return nil
}

func errUTF7(why string) error { return &utf7Error{why} }

type utf7Error struct{ why string }

func (e *utf7Error) Error() string { return ErrUTF7.Error() + ": " + e.why }
func (e *utf7Error) Unwrap() error { return ErrUTF7 }
