package quickstart

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// maxShown bounds how much of a found value Report prints (DKIM RSA keys
// run to hundreds of characters).
const maxShown = 100

// Report writes findings for a person: a line per record with its status,
// type and name; under each that is not OK, what the DNS holds, why it
// does not do, and the record to publish; under an OK one accepted for its
// meaning, how. A count closes it. It returns the number of records that
// are not OK.
func Report(w io.Writer, findings []Finding) int {
	counts := map[Status]int{}
	for _, f := range findings {
		counts[f.Status]++
		fmt.Fprintf(w, "%-8s %-7s %s\n", f.Status, f.Type, f.Name)
		if f.Status != OK {
			for _, v := range f.Found {
				fmt.Fprintf(w, "         found:   %s\n", shown(f.Type, v))
			}
		}
		if f.Note != "" {
			fmt.Fprintf(w, "         note:    %s\n", f.Note)
		}
		if f.Status != OK {
			for line := range strings.SplitSeq(f.Zone(), "\n") {
				// The A/AAAA reminder is comments: values to fill in.
				fmt.Fprintf(w, "         publish: %s\n", strings.TrimPrefix(line, "; "))
			}
			fmt.Fprintf(w, "         purpose: %s\n", f.Purpose)
		}
	}
	fmt.Fprintf(w, "\n%d records: %d OK, %d missing, %d wrong, %d unknown\n",
		len(findings), counts[OK], counts[Missing], counts[Wrong], counts[Unknown])
	return len(findings) - counts[OK]
}

// shown formats a found value for Report: TXT texts quoted, long ones cut.
func shown(typ, v string) string {
	if len(v) > maxShown {
		v = v[:maxShown] + "..."
	}
	if typ == "TXT" {
		return strconv.Quote(v)
	}
	return v
}
