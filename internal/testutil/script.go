package testutil

import (
	"fmt"
	"maps"
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

// MatchAnyOrder matches the server lines gots against the expected lines
// wants in any order, each expected line used once, and binds the new
// placeholders of the pairing found. It is for a block of untagged
// responses whose order the RFC leaves open. The search backtracks, so a
// placeholder bound by one pairing does not block another.
func (v Vars) MatchAnyOrder(wants, gots []string) bool {
	if len(wants) != len(gots) {
		return false
	}
	used := make([]bool, len(wants))
	var try func(i int, vars Vars) Vars
	try = func(i int, vars Vars) Vars {
		if i == len(gots) {
			return vars
		}
		for j, want := range wants {
			if used[j] {
				continue
			}
			next := maps.Clone(vars)
			if !next.Match(want, gots[i]) {
				continue
			}
			used[j] = true
			if done := try(i+1, next); done != nil {
				return done
			}
			used[j] = false
		}
		return nil
	}
	done := try(0, maps.Clone(v))
	if done == nil {
		return false
	}
	maps.Copy(v, done)
	return true
}

// StepKind tells what a line of a script does.
type StepKind int

const (
	// Send: a client line ("C: ..." or "C<session>: ...").
	Send StepKind = iota
	// Expect: the next line the session receives ("S: ...", "S<session>: ...").
	Expect
	// ExpectAnyOrder: the Expect steps of an "@any-order" ... "@end" block,
	// received in any order.
	ExpectAnyOrder
	// Directive: an "@name args..." line, for the runner to interpret.
	Directive
)

// Step is one line (or @any-order block) of a scripted dialogue.
type Step struct {
	Line    int // line number in the file, from 1
	Kind    StepKind
	Session string   // Send and Expect: the session's name, "" for "C:"/"S:"
	Text    string   // Send and Expect: the line without its prefix
	Args    []string // Directive: its words, Args[0] the name without "@"
	Block   []Step   // ExpectAnyOrder: its Expect steps
}

var stepLine = regexp.MustCompile(`^([CS])([A-Za-z0-9]*):(?: (.*))?$`)

// ParseScript splits a scripted dialogue into steps. Lines are:
//
//	# comment, or an empty line
//	@name args...        a directive
//	C: text, C<name>: text   a line the (named) session sends
//	S: text, S<name>: text   the next line the (named) session must receive
//	@any-order ... @end  S lines of one session received in any order
//
// A session name is letters and digits ("C1:", "S2:", "Cbob:").
func ParseScript(text string) ([]Step, error) {
	lines := strings.Split(strings.TrimSuffix(strings.ReplaceAll(text, "\r\n", "\n"), "\n"), "\n")
	var steps []Step
	var block *Step
	for i, l := range lines {
		n := i + 1
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case l == "@any-order":
			if block != nil {
				return nil, fmt.Errorf("line %d: @any-order inside @any-order", n)
			}
			block = &Step{Line: n, Kind: ExpectAnyOrder}
		case l == "@end":
			if block == nil || len(block.Block) == 0 {
				return nil, fmt.Errorf("line %d: @end without an @any-order block of S lines", n)
			}
			steps = append(steps, *block)
			block = nil
		case strings.HasPrefix(l, "@"):
			if block != nil {
				return nil, fmt.Errorf("line %d: directive inside @any-order", n)
			}
			steps = append(steps, Step{Line: n, Kind: Directive, Args: strings.Fields(l[1:])})
		default:
			m := stepLine.FindStringSubmatch(l)
			if m == nil {
				return nil, fmt.Errorf("line %d: bad script line %q", n, l)
			}
			st := Step{Line: n, Kind: Send, Session: m[2], Text: m[3]}
			if m[1] == "S" {
				st.Kind = Expect
			}
			if block != nil {
				if st.Kind != Expect || (len(block.Block) > 0 && block.Block[0].Session != st.Session) {
					return nil, fmt.Errorf("line %d: an @any-order block holds S lines of one session only", n)
				}
				block.Block = append(block.Block, st)
				block.Session = st.Session
				continue
			}
			steps = append(steps, st)
		}
	}
	if block != nil {
		return nil, fmt.Errorf("line %d: @any-order without @end", block.Line)
	}
	return steps, nil
}
