package imapserver

import (
	"slices"
	"strconv"
	"strings"

	"postel/internal/imap"
	"postel/internal/imap/thread"
	"postel/internal/message"
)

// This file answers SEARCH and SORT with RETURN options in ESEARCH
// responses: ESEARCH (RFC 4731), ESORT (RFC 5267 §3) and PARTIAL (RFC
// 9394), and computes the SORT=DISPLAY values (RFC 5957).

// esearch is the result of a searching command with RETURN options.
type esearch struct {
	uid     bool
	sorted  bool     // SORT: nums are in the requested order
	nums    []uint32 // the results, as sequence numbers or UIDs, in order
	modseqs []uint64 // each result's MODSEQ
	// withModSeq: the search used MODSEQ, so the response carries the
	// highest MODSEQ of the messages returned (RFC 7162 §3.1.5).
	withModSeq bool
	opts       []string // the result options to answer, upper case
	partial    *imap.PartialRange
}

// answerOpts are the return options that ask for result data: RETURN ()
// (or only SAVE, CONTEXT, UPDATE) is ALL (RFC 4731 §3.1; RFC 5267 §3.3
// for SORT). SAVE alone is answered with no ESEARCH (RFC 5182 §2.4),
// which the caller decides.
func answerOpts(ret []string) []string {
	return slices.DeleteFunc(slices.Clone(ret), func(o string) bool {
		return o == "SAVE" || o == "CONTEXT" || o == "UPDATE"
	})
}

// partialWindow returns the indexes [lo, hi) of the n results that a
// PARTIAL range covers (RFC 9394 §3.1): 1 is the first result, -1 the
// last; the parts of the range beyond the results are left out.
func partialWindow(n int, p *imap.PartialRange) (lo, hi int) {
	a, b := p.Bounds()
	first, last := int64(a), int64(b)
	if p.Last {
		// -a:-b, a <= b: from the b-th last to the a-th last.
		first, last = int64(n)-int64(b)+1, int64(n)-int64(a)+1
	}
	first, last = max(first, 1), min(last, int64(n))
	if first > last {
		return 0, 0
	}
	return int(first - 1), int(last)
}

// orderedSet writes numbers in the order given as a sequence set, joining
// only runs that go up by one into ranges: RFC 5267 §3.2 reads any range
// in increasing order, so a SORT result 7,6,5 must not become 7:5.
func orderedSet(nums []uint32) string {
	var sb strings.Builder
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		if sb.Len() > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.FormatUint(uint64(nums[i]), 10))
		if j > i {
			sb.WriteByte(':')
			sb.WriteString(strconv.FormatUint(uint64(nums[j]), 10))
		}
		i = j + 1
	}
	return sb.String()
}

// writeESearch writes an ESEARCH response (RFC 4731 §3.1, RFC 9051
// §7.3.4): empty results have no MIN, MAX and ALL. For SORT (RFC 5267
// §3.1) MIN and MAX are the first and last in the sort order and ALL is in
// that order. PARTIAL (RFC 9394 §3.1) gives the range asked and the
// results in it, NIL when none. MODSEQ is the highest of the messages
// returned (RFC 7162 §3.1.5).
func (s *session) writeESearch(tag string, e *esearch) {
	w := s.w
	w.Atom("* ESEARCH (TAG ")
	w.Quoted(tag)
	w.Atom(")")
	if e.uid {
		w.Atom(" UID")
	}
	n := len(e.nums)
	var modseq uint64
	returned := func(lo, hi int) {
		for k := lo; k < hi; k++ {
			modseq = max(modseq, e.modseqs[k])
		}
	}
	has := func(o string) bool { return slices.Contains(e.opts, o) }
	if n > 0 && has("MIN") {
		w.Atom(" MIN ")
		w.Number(uint64(e.nums[0]))
		returned(0, 1)
	}
	if n > 0 && has("MAX") {
		w.Atom(" MAX ")
		w.Number(uint64(e.nums[n-1]))
		returned(n-1, n)
	}
	if has("COUNT") {
		w.Atom(" COUNT ")
		w.Number(uint64(n))
		returned(0, n)
	}
	if n > 0 && has("ALL") {
		w.Atom(" ALL ")
		if e.sorted {
			w.Atom(orderedSet(e.nums))
		} else {
			w.SeqSet(imap.SeqSetFromNums(e.nums))
		}
		returned(0, n)
	}
	if e.partial != nil {
		w.Atom(" PARTIAL (")
		w.Atom(e.partial.String())
		lo, hi := partialWindow(n, e.partial)
		switch {
		case lo == hi:
			w.Atom(" NIL")
		case e.sorted:
			w.SP()
			w.Atom(orderedSet(e.nums[lo:hi]))
		default:
			w.SP()
			w.SeqSet(imap.SeqSetFromNums(e.nums[lo:hi]))
		}
		w.Close()
		returned(lo, hi)
	}
	if e.withModSeq && modseq > 0 {
		w.Atom(" MODSEQ ")
		w.Number(modseq)
	}
	w.CRLF()
}

// sortESearch answers SORT RETURN (...) (RFC 5267 §3.1) for the sorted
// messages, and with UPDATE keeps a context of the result (context.go).
func (s *session) sortESearch(cmd *imap.Command, a *imap.SortArgs, sorted []thread.Msg) {
	v := s.sel
	e := &esearch{uid: cmd.UID, sorted: true, opts: answerOpts(a.Return), partial: a.Partial,
		withModSeq: usesKey(a.Key, "MODSEQ") && len(sorted) > 0}
	if len(e.opts) == 0 {
		e.opts = []string{"ALL"}
	}
	for _, m := range sorted {
		n := m.SeqNum
		if cmd.UID {
			n = m.UID
		}
		e.nums = append(e.nums, n)
		e.modseqs = append(e.modseqs, v.msgs[m.SeqNum-1].modseq)
	}
	s.writeESearch(cmd.Tag, e)
	if slices.Contains(a.Return, "UPDATE") {
		s.startContext(cmd, a.Key, a.Criteria, sorted)
	}
}

// displayValue is the display sort value of an address list (RFC 5957
// §3) from the first address of the envelope: its name when it has one
// (RFC 2047 decoded at delivery), else addr-mailbox@addr-host, else
// addr-mailbox (a group's name), else "".
func displayValue(list []message.Address) string {
	if len(list) == 0 {
		return ""
	}
	a := list[0]
	switch {
	case a.Name != "":
		return a.Name
	case a.Mailbox != "" && a.Host != "":
		return a.Mailbox + "@" + a.Host
	}
	return a.Mailbox
}

// partialFetch keeps, of the messages a FETCH names (in ascending order),
// those in the range of its PARTIAL modifier (RFC 9394 §3.3: "only return
// FETCH results for messages in the specified range"), counted among the
// messages changed since CHANGEDSINCE when it is given too (§3.4).
func partialFetch(v *mailboxView, idx []int, a *imap.FetchArgs) []int {
	var in []int
	for _, i := range idx {
		if v.msgs[i].modseq > a.ChangedSince {
			in = append(in, i)
		}
	}
	lo, hi := partialWindow(len(in), a.Partial)
	return in[lo:hi]
}
