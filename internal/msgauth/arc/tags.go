package arc

import (
	"errors"
	"fmt"
	"strings"
)

// maxTags bounds the tags of one tag-list; real signatures carry about a
// dozen.
const maxTags = 64

// tag is one tag=value pair of a tag-list.
type tag struct {
	name, value string
}

// tagList is a parsed tag-list, in the order written.
type tagList []tag

// get returns the value of the tag named name (tag names are
// case-sensitive, RFC 6376 §3.2).
func (t tagList) get(name string) (string, bool) {
	for _, tg := range t {
		if tg.name == name {
			return tg.value, true
		}
	}
	return "", false
}

// parseTagList parses a tag-list (RFC 6376 §3.2):
//
//	tag-list  =  tag-spec *( ";" tag-spec ) [ ";" ]
//	tag-spec  =  [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
//	tag-name  =  ALPHA *ALNUMPUNC
//	tag-value =  [ tval *( 1*(WSP / FWS) tval ) ]
//	tval      =  1*VALCHAR   ; %x21-3A / %x3C-7E
//
// Values keep their inner white space (folding included); leading and
// trailing white space is not part of a value. Octets above 0x7F are taken
// in values, as UTF-8 is in internationalized mail (RFC 8616 §4).
func parseTagList(s string) (tagList, error) {
	var out tagList
	specs := strings.Split(s, ";")
	for n, spec := range specs {
		spec = trimFWS(spec)
		if spec == "" {
			// RFC 6376 §3.2: only the final tag-spec may be followed by
			// ";", so only the last piece may be empty.
			if n == len(specs)-1 && n > 0 {
				break
			}
			return nil, errors.New("empty tag")
		}
		eq := strings.IndexByte(spec, '=')
		if eq < 0 {
			return nil, fmt.Errorf("tag %.20q without \"=\"", spec)
		}
		name, value := trimFWS(spec[:eq]), trimFWS(spec[eq+1:])
		if !validTagName(name) {
			return nil, fmt.Errorf("bad tag name %.20q", name)
		}
		if !validTagValue(value) {
			return nil, fmt.Errorf("bad value of tag %s", name)
		}
		// RFC 6376 §3.2: a tag name occurring twice makes the whole
		// tag-list invalid.
		if _, dup := out.get(name); dup {
			return nil, fmt.Errorf("tag %s repeated", name)
		}
		if len(out) == maxTags {
			return nil, fmt.Errorf("more than %d tags", maxTags)
		}
		out = append(out, tag{name, value})
	}
	return out, nil
}

// isFWS reports whether c is folding white space: WSP, or the CR and LF of
// a fold.
func isFWS(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func trimFWS(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return r < 0x80 && isFWS(byte(r)) })
}

// removeFWS deletes all white space from s, as base64 values (b=, bh=, p=)
// and the colon-separated lists require (RFC 6376 §3.5).
func removeFWS(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x80 && isFWS(byte(r)) {
			return -1
		}
		return r
	}, s)
}

func validTagName(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlpha(c) && !isDigit(c) && c != '_' {
			return false
		}
	}
	return true
}

// validTagValue checks the tval characters of a value and that line breaks
// only occur as folds (CRLF followed by WSP).
func validTagValue(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ' || c == '\t':
		case c == '\r':
			if i+2 >= len(s) || s[i+1] != '\n' || (s[i+2] != ' ' && s[i+2] != '\t') {
				return false
			}
			i++
		case c == '\n':
			// A bare LF fold, as in messages stored with LF line ends.
			if i+1 >= len(s) || (s[i+1] != ' ' && s[i+1] != '\t') {
				return false
			}
		case c == ';' || c < 0x21 || c == 0x7f:
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parseDigits parses a value of 1 to max decimal digits.
func parseDigits(s string, max int) (int64, bool) {
	if s == "" || len(s) > max {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, true
}
