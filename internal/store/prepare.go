package store

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// PreparedDelivery is a Delivery checked and completed by PrepareDelivery:
// what every implementation commits.
type PreparedDelivery struct {
	*Delivery
	Targets []PreparedTarget // the Delivery's, completed
}

// PreparedTarget is a Target with its mailbox name canonical ("INBOX" when
// empty), its internal date set (now when zero) and its flags split.
type PreparedTarget struct {
	Target
	Bits     int    // system flags (SplitFlags)
	Keywords string // keywords, sorted, space-separated
}

// PrepareDelivery checks d (a body, and targets or a queue entry with
// recipients; valid flags and mailbox names) and completes its targets.
func PrepareDelivery(d *Delivery) (*PreparedDelivery, error) {
	if d.Spool == nil || (len(d.Targets) == 0 && d.Queue == nil) {
		return nil, fmt.Errorf("%w: delivery without body or destination", ErrInvalid)
	}
	if d.Queue != nil && len(d.Queue.Recipients) == 0 {
		return nil, fmt.Errorf("%w: queue entry without recipients", ErrInvalid)
	}
	p := &PreparedDelivery{Delivery: d, Targets: make([]PreparedTarget, len(d.Targets))}
	for i, t := range d.Targets {
		bits, kw, err := SplitFlags(t.Flags)
		if err != nil {
			return nil, err
		}
		if t.Mailbox == "" {
			t.Mailbox = "INBOX"
		}
		if t.Mailbox, err = CanonicalMailbox(t.Mailbox); err != nil {
			return nil, err
		}
		if t.InternalDate.IsZero() {
			t.InternalDate = time.Now()
		}
		p.Targets[i] = PreparedTarget{t, bits, strings.Join(kw, " ")}
	}
	return p, nil
}

// ApplyFlags combines a message's flags (system bits and sorted keywords)
// with a StoreFlags request as op says, and returns the new ones.
func ApplyFlags(op FlagOp, bits int, kw []string, reqBits int, reqKw []string) (int, []string) {
	switch op {
	case FlagsReplace:
		return reqBits, reqKw
	case FlagsAdd:
		// Keywords match case-insensitively (RFC 9051 §2.3.2): one the
		// message has keeps its case.
		out := slices.Clone(kw)
		for _, k := range reqKw {
			if !HasKeyword(out, k) {
				out = append(out, k)
			}
		}
		SortKeywords(out)
		return bits | reqBits, out
	default:
		var out []string
		for _, k := range kw {
			if !HasKeyword(reqKw, k) {
				out = append(out, k)
			}
		}
		return bits &^ reqBits, out
	}
}
