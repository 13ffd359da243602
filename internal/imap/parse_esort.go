package imap

// This file holds the syntax of the result options shared by SEARCH and
// SORT: ESEARCH (RFC 4731), SEARCHRES SAVE (RFC 5182), ESORT and CONTEXT
// (RFC 5267) and PARTIAL (RFC 9394); and CANCELUPDATE (RFC 5267 §4.3.5).

// PartialRange is the argument of the PARTIAL result option (RFC 9394
// §4): partial-range-first = nz-number ":" nz-number, or
// partial-range-last = "-" nz-number ":" "-" nz-number, counted from the
// last result (-1 is the last). Start and Stop are as given, without the
// sign; "500:400 is the same as 400:500".
type PartialRange struct {
	Start, Stop uint32
	Last        bool // the "-" form
}

// Bounds returns the range as 1-based positions lo <= hi from its end
// (Last) or its start.
func (p PartialRange) Bounds() (lo, hi uint32) {
	return min(p.Start, p.Stop), max(p.Start, p.Stop)
}

// String is the range as the client gave it, for the PARTIAL response
// (RFC 9394 §3.1: "the original range").
func (p PartialRange) String() string {
	if p.Last {
		return "-" + utoa32(p.Start) + ":-" + utoa32(p.Stop)
	}
	return utoa32(p.Start) + ":" + utoa32(p.Stop)
}

func utoa32(n uint32) string {
	var b [10]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// CancelUpdateArgs: CANCELUPDATE 1*(SP quoted) (RFC 5267 §4.3.5, §5),
// the tags of the searching commands whose updates end.
type CancelUpdateArgs struct{ Tags []string }

// returnOpts reads "(" [search-return-opt *(SP search-return-opt)] ")"
// after RETURN SP: the options of RFC 4731 (MIN MAX ALL COUNT), SAVE
// (RFC 5182, SEARCH only), CONTEXT and UPDATE (RFC 5267 §4.2, §4.3) and
// PARTIAL (RFC 9394 §3.1). A command has at most one PARTIAL or ALL
// (RFC 9394 §3.1: "either one PARTIAL, one ALL, or neither").
func (r *Reader) returnOpts(sort bool) (opts []string, partial *PartialRange) {
	opts = []string{}
	r.parenList(true, func() {
		switch o := r.word(); o {
		case "MIN", "MAX", "ALL", "COUNT", "CONTEXT", "UPDATE":
			if o == "ALL" && partial != nil {
				r.bad("PARTIAL and ALL cannot be used together")
			}
			opts = append(opts, o)
		case "SAVE":
			if sort {
				// RFC 5182 defines SAVE for SEARCH only; RFC 5267 §3.1
				// adapts the RFC 4731 options to SORT.
				r.bad("SAVE is not a SORT return option")
			}
			opts = append(opts, o)
		case "PARTIAL":
			if partial != nil {
				r.bad("PARTIAL given twice")
			}
			for _, p := range opts {
				if p == "ALL" {
					r.bad("PARTIAL and ALL cannot be used together")
				}
			}
			r.sp()
			partial = r.partialRange()
			opts = append(opts, o)
		default:
			r.bad("unknown return option " + o)
		}
	})
	return opts, partial
}

// partialRange reads partial-range (RFC 9394 §4): both ends positive, or
// both negative; never 0 nor "*".
func (r *Reader) partialRange() *PartialRange {
	p := &PartialRange{}
	p.Last = r.take('-')
	p.Start = r.nzNumber()
	r.expect(':')
	if r.take('-') != p.Last {
		r.bad("a PARTIAL range has both ends positive or both negative")
	}
	p.Stop = r.nzNumber()
	return p
}

// extSort: ["UID" SP] "SORT" [SP "RETURN" SP search-return-opts] SP
// sort-criteria SP search-criteria (RFC 5267 §3, §5: the ESORT form,
// with the CONTEXT=SORT options of §4).
func (r *Reader) extSort() *SortArgs {
	start := r.pos
	var opts []string
	var partial *PartialRange
	hasReturn := false
	if r.take(' ') && r.keyword("RETURN") {
		r.sp()
		opts, partial = r.returnOpts(true)
		hasReturn = true
	} else {
		r.pos = start
	}
	a := r.sort()
	a.Return, a.Partial, a.HasReturn = opts, partial, hasReturn
	return a
}

// cancelUpdate: "CANCELUPDATE" 1*(SP quoted) (RFC 5267 §5), at most 100
// tags.
func (r *Reader) cancelUpdate() *CancelUpdateArgs {
	a := &CancelUpdateArgs{}
	for {
		r.sp()
		r.item()
		if len(a.Tags) == 100 {
			r.bad("too many tags")
		}
		a.Tags = append(a.Tags, r.quoted())
		if r.atEnd() {
			return a
		}
	}
}
