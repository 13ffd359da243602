package imap

import "strings"

// The FETCH macros (RFC 9051 §6.4.5).
var fetchMacros = []struct {
	name  string
	items []string
}{
	{"ALL", []string{"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"}},
	{"FAST", []string{"FLAGS", "INTERNALDATE", "RFC822.SIZE"}},
	{"FULL", []string{"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"}},
}

// fetch: "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att /
// "(" fetch-att *(SP fetch-att) ")") [SP "(" fetch-modifier *(SP
// fetch-modifier) ")"], the modifiers being CHANGEDSINCE and VANISHED
// (RFC 7162 §3.1.4.1, §3.2.6) and PARTIAL (RFC 9394 §3.3).
func (r *Reader) fetch(uid bool) *FetchArgs {
	a := &FetchArgs{}
	r.sp()
	a.Set = r.seqSet()
	r.sp()
	if r.peek() == '(' {
		r.parenList(false, func() { a.Items = append(a.Items, r.fetchAtt()) })
	} else {
		for _, m := range fetchMacros {
			if r.keyword(m.name) {
				for _, it := range m.items {
					a.Items = append(a.Items, FetchItem{Name: it})
				}
				break
			}
		}
		if a.Items == nil {
			r.item()
			a.Items = []FetchItem{r.fetchAtt()}
		}
	}
	if r.atEnd() {
		return a
	}
	r.sp()
	r.parenList(false, func() {
		switch m := r.word(); m {
		case "CHANGEDSINCE":
			if a.ChangedSince != 0 {
				r.bad("CHANGEDSINCE given twice")
			}
			r.sp()
			a.ChangedSince = r.modSeq()
		case "VANISHED":
			if a.Vanished {
				r.bad("VANISHED given twice")
			}
			a.Vanished = true
		case "PARTIAL": // RFC 9394 §3.3
			if a.Partial != nil {
				r.bad("PARTIAL given twice")
			}
			r.sp()
			a.Partial = r.partialRange()
		default:
			r.bad("unknown FETCH modifier " + m)
		}
	})
	// RFC 7162 §3.2.6: VANISHED only in UID FETCH, and with CHANGEDSINCE.
	switch {
	case a.Vanished && !uid:
		r.bad("VANISHED is only allowed in UID FETCH")
	case a.Vanished && a.ChangedSince == 0:
		r.bad("VANISHED needs CHANGEDSINCE")
	}
	return a
}

// fetchAtt reads one fetch-att.
func (r *Reader) fetchAtt() FetchItem {
	start := r.pos
	for r.pos < len(r.line) && (isAlnum(r.line[r.pos]) || r.line[r.pos] == '.') {
		r.pos++
	}
	name := strings.ToUpper(string(r.line[start:r.pos]))
	it := FetchItem{Name: name}
	switch name {
	case "ENVELOPE", "FLAGS", "INTERNALDATE", "RFC822", "RFC822.HEADER", "RFC822.SIZE",
		"RFC822.TEXT", "BODYSTRUCTURE", "UID", "MODSEQ", "SAVEDATE", "EMAILID", "THREADID":
	case "PREVIEW":
		it.Lazy = r.previewMods()
	case "BODY", "BODY.PEEK":
		if r.peek() == '[' || name == "BODY.PEEK" {
			it.Name, it.Peek = "BODY", name == "BODY.PEEK"
			it.Section = r.section()
			it.Partial = r.partial()
		}
	case "BINARY", "BINARY.PEEK":
		it.Name, it.Peek = "BINARY", name == "BINARY.PEEK"
		it.Section = r.binarySection()
		it.Partial = r.partial()
	case "BINARY.SIZE":
		it.Section = r.binarySection()
	default:
		r.pos = start
		r.syntax("unknown FETCH item")
	}
	return it
}

func isAlnum(c byte) bool {
	return isDigit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
}

// maxPart bounds a section part number.
const maxPart = 1<<31 - 1

// part reads one section part number.
func (r *Reader) part(s *Section) {
	if len(s.Part) >= r.opts.MaxDepth {
		r.bad("section part path too long")
	}
	n := int(r.digits(maxPart, "a part number"))
	if n == 0 {
		r.bad("part numbers start at 1")
	}
	s.Part = append(s.Part, n)
}

// section reads "[" [section-spec] "]": section-msgtext, or section-part
// ["." section-text] where section-text also allows MIME (RFC 9051 §9).
func (r *Reader) section() *Section {
	r.expect('[')
	s := &Section{}
	switch {
	case isDigit(r.peek()):
		for {
			r.part(s)
			if !r.take('.') {
				break
			}
			if !isDigit(r.peek()) {
				r.sectionText(s, true)
				break
			}
		}
	case r.peek() != ']':
		r.sectionText(s, false)
	}
	r.expect(']')
	return s
}

// sectionText reads HEADER, HEADER.FIELDS[.NOT] SP header-list, TEXT or,
// after a part number, MIME.
func (r *Reader) sectionText(s *Section, afterPart bool) {
	start := r.pos
	for r.pos < len(r.line) && (isAlnum(r.line[r.pos]) || r.line[r.pos] == '.') {
		r.pos++
	}
	s.Specifier = strings.ToUpper(string(r.line[start:r.pos]))
	switch s.Specifier {
	case "HEADER", "TEXT":
	case "MIME":
		if !afterPart {
			r.bad("MIME needs a part number")
		}
	case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
		r.sp()
		r.parenList(false, func() { s.Fields = append(s.Fields, r.astring()) })
	default:
		r.pos = start
		r.syntax("unknown section")
	}
}

// binarySection reads section-binary: "[" [section-part] "]" (RFC 3516).
func (r *Reader) binarySection() *Section {
	r.expect('[')
	s := &Section{}
	if r.peek() != ']' {
		for {
			r.part(s)
			if !r.take('.') {
				break
			}
		}
	}
	r.expect(']')
	return s
}

// partial reads an optional "<" number64 "." nz-number64 ">".
func (r *Reader) partial() *Partial {
	if !r.take('<') {
		return nil
	}
	p := &Partial{Offset: r.number64()}
	r.expect('.')
	if p.Count = r.number64(); p.Count == 0 {
		r.bad("partial count must not be 0")
	}
	r.expect('>')
	return p
}
