package imap

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// ParseSeqSet parses a sequence set (RFC 9051 §9 sequence-set): numbers
// and ranges "n:m" separated by commas, "*" for the largest number in use,
// or "$" alone for the saved search result (RFC 5182).
func ParseSeqSet(s string) (SeqSet, error) {
	set, n, err := scanSeqSet(s)
	if err != nil {
		return SeqSet{}, err
	}
	if n != len(s) {
		return SeqSet{}, fmt.Errorf("invalid sequence set: unexpected %q", s[n])
	}
	return set, nil
}

// scanSeqSet parses the sequence set at the start of s and returns it with
// the number of bytes it took.
func scanSeqSet(s string) (SeqSet, int, error) {
	if len(s) > 0 && s[0] == '$' {
		return SeqSet{Saved: true}, 1, nil
	}
	var set SeqSet
	i := 0
	for {
		start, n, err := scanSeqNumber(s[i:])
		if err != nil {
			return SeqSet{}, 0, err
		}
		i += n
		stop := start
		if i < len(s) && s[i] == ':' {
			i++
			if stop, n, err = scanSeqNumber(s[i:]); err != nil {
				return SeqSet{}, 0, err
			}
			i += n
		}
		set.Ranges = append(set.Ranges, SeqRange{Start: start, Stop: stop})
		if i >= len(s) || s[i] != ',' {
			return set, i, nil
		}
		i++
	}
}

// scanSeqNumber parses a seq-number (nz-number or "*", which is 0) at the
// start of s.
func scanSeqNumber(s string) (uint32, int, error) {
	if len(s) > 0 && s[0] == '*' {
		return 0, 1, nil
	}
	var v uint64
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		v = v*10 + uint64(s[i]-'0')
		if v > 1<<32-1 {
			return 0, 0, errors.New("invalid sequence set: number too large")
		}
		i++
	}
	switch {
	case i == 0:
		return 0, 0, errors.New("invalid sequence set: expected a number or *")
	case v == 0:
		return 0, 0, errors.New("invalid sequence set: 0 is not a valid number")
	}
	return uint32(v), i, nil
}

// String returns the set in IMAP syntax, e.g. "1:3,7,9:*" or "$".
func (s SeqSet) String() string {
	return string(s.appendTo(nil))
}

func (s SeqSet) appendTo(b []byte) []byte {
	if s.Saved {
		return append(b, '$')
	}
	for i, r := range s.Ranges {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendSeqNumber(b, r.Start)
		if r.Stop != r.Start {
			b = append(b, ':')
			b = appendSeqNumber(b, r.Stop)
		}
	}
	return b
}

func appendSeqNumber(b []byte, n uint32) []byte {
	if n == 0 {
		return append(b, '*')
	}
	return strconv.AppendUint(b, uint64(n), 10)
}

// bounds returns range r as lo <= hi, with "*" standing for last.
func (r SeqRange) bounds(last uint32) (lo, hi uint32) {
	lo, hi = r.Start, r.Stop
	if lo == 0 {
		lo = last
	}
	if hi == 0 {
		hi = last
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	return lo, hi
}

// Contains reports whether n is in the set, "*" standing for last (the
// number of messages, or the largest UID). A saved set ("$") contains
// nothing: the session resolves it before asking.
func (s SeqSet) Contains(n, last uint32) bool {
	for _, r := range s.Ranges {
		if lo, hi := r.bounds(last); lo <= n && n <= hi {
			return true
		}
	}
	return false
}

// Expand returns the numbers of the set that lie in 1..last, ascending and
// without duplicates, "*" standing for last. It fails for a saved set ("$",
// which the session resolves itself) and when the result would hold more
// than limit numbers.
func (s SeqSet) Expand(last uint32, limit int) ([]uint32, error) {
	if s.Saved {
		return nil, errors.New("saved search result ($) cannot be expanded")
	}
	rs := make([]SeqRange, 0, len(s.Ranges))
	for _, r := range s.Ranges {
		lo, hi := r.bounds(last)
		lo = max(lo, 1)
		hi = min(hi, last)
		if lo <= hi {
			rs = append(rs, SeqRange{lo, hi})
		}
	}
	slices.SortFunc(rs, func(a, b SeqRange) int { return cmp.Compare(a.Start, b.Start) })
	// Merge overlapping and adjacent ranges, then count before allocating.
	merged := rs[:0]
	for _, r := range rs {
		if k := len(merged) - 1; k >= 0 && uint64(r.Start) <= uint64(merged[k].Stop)+1 {
			merged[k].Stop = max(merged[k].Stop, r.Stop)
			continue
		}
		merged = append(merged, r)
	}
	total := 0
	for _, r := range merged {
		total += int(r.Stop-r.Start) + 1
		if total > limit {
			return nil, fmt.Errorf("sequence set has more than %d numbers", limit)
		}
	}
	nums := make([]uint32, 0, total)
	for _, r := range merged {
		for n := r.Start; ; n++ {
			nums = append(nums, n)
			if n == r.Stop {
				break
			}
		}
	}
	return nums, nil
}

// SeqSetFromNums returns the set of the given numbers, with runs of
// consecutive numbers compressed to ranges ("1:3,7" for 3,1,2,7), as
// COPYUID, APPENDUID and VANISHED report them. Zeros are left out.
func SeqSetFromNums(nums []uint32) SeqSet {
	sorted := slices.Clone(nums)
	slices.Sort(sorted)
	var set SeqSet
	for _, n := range sorted {
		if n == 0 {
			continue
		}
		if k := len(set.Ranges) - 1; k >= 0 && uint64(n) <= uint64(set.Ranges[k].Stop)+1 {
			set.Ranges[k].Stop = n
			continue
		}
		set.Ranges = append(set.Ranges, SeqRange{n, n})
	}
	return set
}
