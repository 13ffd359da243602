package thread

import (
	"testing"

	"postel/internal/imap"
)

// TestSortDisplay: DISPLAYFROM and DISPLAYTO (RFC 5957 §4) compare the
// display values with i;unicode-casemap (§7, RFC 5255), ties broken by
// sequence number as every SORT key.
func TestSortDisplay(t *testing.T) {
	msgs := []Msg{
		{SeqNum: 1, DisplayFrom: "zed", DisplayTo: "Mike", From: "aaa"},
		{SeqNum: 2, DisplayFrom: "bbb@example.org", DisplayTo: "undisclosed", From: "bbb"},
		{SeqNum: 3, DisplayFrom: "émile", From: "ccc"},
		{SeqNum: 4, DisplayFrom: "Émile", DisplayTo: "mike", From: "ddd"},
	}
	tests := []struct {
		criteria []imap.SortCriterion
		want     []uint32
	}{
		{[]imap.SortCriterion{{Key: "FROM"}}, []uint32{1, 2, 3, 4}},
		{[]imap.SortCriterion{{Key: "DISPLAYFROM"}}, []uint32{2, 3, 4, 1}},
		{[]imap.SortCriterion{{Key: "DISPLAYFROM", Reverse: true}}, []uint32{1, 3, 4, 2}},
		{[]imap.SortCriterion{{Key: "DISPLAYTO"}}, []uint32{3, 1, 4, 2}},
		{[]imap.SortCriterion{{Key: "DISPLAYTO", Reverse: true}, {Key: "DISPLAYFROM", Reverse: true}}, []uint32{2, 1, 4, 3}},
	}
	for _, tt := range tests {
		var got []uint32
		for _, m := range Sort(msgs, tt.criteria) {
			got = append(got, m.SeqNum)
		}
		if len(got) != len(tt.want) {
			t.Fatalf("%v: got %v", tt.criteria, got)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%v: got %v, want %v", tt.criteria, got, tt.want)
				break
			}
		}
	}
}
