package testutil

import (
	"regexp"
	"strings"
)

// Vars binds the placeholders of scripted dialogues ("C:"/"S:" lines kept
// in testdata): ${NAME} in an expected server line matches one token
// ([^ )\]]+) and binds NAME on first use, later uses must be equal;
// ${*} matches anything. Client lines get the bound values substituted.
type Vars map[string]string

var placeholder = regexp.MustCompile(`\$\{([A-Za-z0-9_*]+)\}`)

// Substitute replaces the bound placeholders of a client line.
func (v Vars) Substitute(line string) string {
	return placeholder.ReplaceAllStringFunc(line, func(p string) string {
		if val, ok := v[p[2:len(p)-1]]; ok {
			return val
		}
		return p
	})
}

// Match matches a server line against an expected line with placeholders,
// binding the new ones.
func (v Vars) Match(want, got string) bool {
	var re strings.Builder
	re.WriteString("^")
	var names []string
	last := 0
	for _, m := range placeholder.FindAllStringSubmatchIndex(want, -1) {
		re.WriteString(regexp.QuoteMeta(want[last:m[0]]))
		name := want[m[2]:m[3]]
		switch val, bound := v[name]; {
		case name == "*":
			re.WriteString("(.*)")
			names = append(names, "")
		case bound:
			re.WriteString(regexp.QuoteMeta(val))
		default:
			re.WriteString(`([^ )\]]+)`)
			names = append(names, name)
		}
		last = m[1]
	}
	re.WriteString(regexp.QuoteMeta(want[last:]) + "$")
	sub := regexp.MustCompile(re.String()).FindStringSubmatch(got)
	if sub == nil {
		return false
	}
	for i, name := range names {
		if name == "" {
			continue
		}
		if val, ok := v[name]; ok && val != sub[i+1] {
			return false // a name used twice in one line
		}
		v[name] = sub[i+1]
	}
	return true
}

// CRLF turns the LF line ends of a test file into CRLF.
func CRLF(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}
