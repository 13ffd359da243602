package imap

import "strings"

// search: "SEARCH" [SP "RETURN" SP "(" [search-return-opt *(SP
// search-return-opt)] ")"] SP ["CHARSET" SP charset SP] search-key
// *(SP search-key) (RFC 9051 §6.4.4, ESEARCH RFC 4731, SEARCHRES RFC
// 5182 SAVE, CONTEXT RFC 5267, PARTIAL RFC 9394).
func (r *Reader) search() *SearchArgs {
	a := &SearchArgs{}
	r.sp()
	if r.keyword("RETURN") {
		r.sp()
		a.HasReturn = true
		a.Return, a.Partial = r.returnOpts(false) // parse_esort.go
		r.sp()
	}
	if r.keyword("CHARSET") {
		r.sp()
		a.Charset = strings.ToUpper(r.astring())
		r.sp()
	}
	a.Key = r.searchProgram()
	return a
}

// searchProgram reads search-key *(SP search-key) to the end of the
// command, as an AND node.
func (r *Reader) searchProgram() *SearchKey {
	root := &SearchKey{Op: "AND"}
	for {
		root.Children = append(root.Children, r.searchKey(1))
		if r.atEnd() {
			return root
		}
		r.sp()
	}
}

// searchKey reads one search key (RFC 9051 §9 search-key, with MODSEQ of
// RFC 7162 §3.1.5, OLDER/YOUNGER of RFC 5032 and SAVEDBEFORE, SAVEDON,
// SAVEDSINCE, SAVEDATESUPPORTED of RFC 8514) at nesting depth.
func (r *Reader) searchKey(depth int) *SearchKey {
	if depth > r.opts.MaxDepth {
		r.bad("search keys nested too deeply")
	}
	r.item()
	switch c := r.peek(); {
	case c == '(':
		r.pos++
		k := &SearchKey{Op: "AND"}
		for {
			k.Children = append(k.Children, r.searchKey(depth+1))
			if r.take(')') {
				return k
			}
			r.sp()
		}
	case isDigit(c) || c == '*' || c == '$':
		set := r.seqSet()
		return &SearchKey{Op: "SEQSET", Set: &set}
	}
	k := &SearchKey{Op: r.word()}
	switch k.Op {
	case "ALL", "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "SEEN",
		"UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN",
		"NEW", "OLD", "RECENT", "SAVEDATESUPPORTED":
	case "KEYWORD", "UNKEYWORD":
		r.sp()
		k.Value = r.atom()
	case "BCC", "CC", "FROM", "SUBJECT", "TO", "BODY", "TEXT":
		r.sp()
		k.Value = r.astring()
	case "HEADER":
		r.sp()
		k.Field = r.astring()
		r.sp()
		k.Value = r.astring()
	case "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE",
		"SAVEDBEFORE", "SAVEDON", "SAVEDSINCE":
		r.sp()
		k.Date = r.date()
	case "LARGER", "SMALLER":
		r.sp()
		k.Number = r.number64()
	case "UID":
		r.sp()
		set := r.seqSet()
		k.Set = &set
	case "NOT":
		r.sp()
		k.Children = []*SearchKey{r.searchKey(depth + 1)}
	case "OR":
		r.sp()
		a := r.searchKey(depth + 1)
		r.sp()
		k.Children = []*SearchKey{a, r.searchKey(depth + 1)}
	case "MODSEQ":
		// RFC 7162 §3.1.5: "MODSEQ" [SP entry-name SP entry-type-req]
		// SP mod-sequence-valzer; the entry is checked, then ignored.
		r.sp()
		if r.peek() == '"' {
			if e := r.quoted(); len(e) < 8 || !strings.EqualFold(e[:7], "/flags/") {
				r.bad(`MODSEQ entry name must be "/flags/<flag>"`)
			}
			r.sp()
			if t := r.word(); t != "PRIV" && t != "SHARED" && t != "ALL" {
				r.bad("MODSEQ entry type must be priv, shared or all")
			}
			r.sp()
		}
		k.Number = int64(r.modSeqZero())
	case "EMAILID", "THREADID":
		k.Value = r.objectIDArg()
	case "OLDER", "YOUNGER":
		r.sp()
		k.Number = int64(r.nzNumber())
	default:
		r.bad("unknown search key " + k.Op)
	}
	return k
}
