package imap

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestParseESort: the return options of ESORT and CONTEXT (RFC 5267),
// PARTIAL (RFC 9394), the SORT=DISPLAY criteria (RFC 5957) and
// CANCELUPDATE.
func TestParseESort(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want *Command
	}{
		{"sort return", "a UID SORT RETURN (MIN max COUNT ALL) (REVERSE DATE) UTF-8 UNDELETED\r\n",
			&Command{Tag: "a", Name: "SORT", UID: true, Args: &SortArgs{Criteria: []SortCriterion{{"DATE", true}}, Charset: "UTF-8",
				Key: and(key("UNDELETED")), Return: []string{"MIN", "MAX", "COUNT", "ALL"}, HasReturn: true}}},
		{"sort return empty", "a SORT RETURN () (SUBJECT) UTF-8 ALL\r\n",
			&Command{Tag: "a", Name: "SORT", Args: &SortArgs{Criteria: []SortCriterion{{"SUBJECT", false}}, Charset: "UTF-8",
				Key: and(key("ALL")), Return: []string{}, HasReturn: true}}},
		{"sort display", "a SORT (DISPLAYFROM REVERSE displayto) UTF-8 ALL\r\n",
			&Command{Tag: "a", Name: "SORT", Args: &SortArgs{Criteria: []SortCriterion{{"DISPLAYFROM", false}, {"DISPLAYTO", true}}, Charset: "UTF-8",
				Key: and(key("ALL"))}}},
		{"sort context partial", "a SORT RETURN (UPDATE CONTEXT PARTIAL 1:10) (ARRIVAL) UTF-8 ALL\r\n",
			&Command{Tag: "a", Name: "SORT", Args: &SortArgs{Criteria: []SortCriterion{{"ARRIVAL", false}}, Charset: "UTF-8",
				Key: and(key("ALL")), Return: []string{"UPDATE", "CONTEXT", "PARTIAL"}, HasReturn: true, Partial: &PartialRange{Start: 1, Stop: 10}}}},
		{"search partial last", "a UID SEARCH RETURN (PARTIAL -1:-100) UNDELETED\r\n",
			&Command{Tag: "a", Name: "SEARCH", UID: true, Args: &SearchArgs{Return: []string{"PARTIAL"}, HasReturn: true,
				Partial: &PartialRange{Start: 1, Stop: 100, Last: true}, Key: and(key("UNDELETED"))}}},
		{"search partial reversed", "a SEARCH RETURN (COUNT PARTIAL 500:400 UPDATE) ALL\r\n",
			&Command{Tag: "a", Name: "SEARCH", Args: &SearchArgs{Return: []string{"COUNT", "PARTIAL", "UPDATE"}, HasReturn: true,
				Partial: &PartialRange{Start: 500, Stop: 400}, Key: and(key("ALL"))}}},
		{"cancelupdate", "a CANCELUPDATE \"B01\" \"b]2\"\r\n",
			&Command{Tag: "a", Name: "CANCELUPDATE", Args: &CancelUpdateArgs{Tags: []string{"B01", "b]2"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := readOne(t, tt.in+"next NOOP\r\n", ReaderOptions{}, nil)
			if res.err != nil {
				t.Fatalf("error: %v", res.err)
			}
			if !reflect.DeepEqual(res.cmd, tt.want) {
				t.Errorf("got  %s\nwant %s", dump(res.cmd), dump(tt.want))
			}
			if res.rest != "next NOOP\r\n" {
				t.Errorf("rest %q", res.rest)
			}
		})
	}
}

func TestParseESortErrors(t *testing.T) {
	tests := []struct{ name, in, text string }{
		// RFC 9394 §3.1: one PARTIAL or one ALL, never both nor two.
		{"partial and all", "a SEARCH RETURN (PARTIAL 1:5 ALL) ALL", "PARTIAL and ALL"},
		{"all and partial", "a SORT RETURN (ALL PARTIAL 1:5) (DATE) UTF-8 ALL", "PARTIAL and ALL"},
		{"partial twice", "a SEARCH RETURN (PARTIAL 1:5 PARTIAL 6:9) ALL", "PARTIAL given twice"},
		// RFC 9394 §4: nz-number, same signs, no "*".
		{"partial zero", "a SEARCH RETURN (PARTIAL 0:5) ALL", "0 is not allowed"},
		{"partial mixed", "a SEARCH RETURN (PARTIAL -1:5) ALL", "both ends"},
		{"partial star", "a SEARCH RETURN (PARTIAL 1:*) ALL", "expected a number"},
		{"partial no range", "a SEARCH RETURN (PARTIAL) ALL", "expected a space"},
		{"sort save", "a SORT RETURN (SAVE) (DATE) UTF-8 ALL", "SAVE is not a SORT return option"},
		{"sort bad option", "a SORT RETURN (FOO) (DATE) UTF-8 ALL", "unknown return option"},
		{"sort return no list", "a SORT RETURN (DATE) UTF-8 ALL", "unknown return option"},
		{"cancelupdate none", "a CANCELUPDATE", "expected a space"},
		{"cancelupdate atom", "a CANCELUPDATE B01", "expected '\"'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := readOne(t, tt.in+"\r\nnext NOOP\r\n", ReaderOptions{}, nil)
			var pe *ParseError
			if !errors.As(res.err, &pe) {
				t.Fatalf("got %s, %v; want a ParseError", dump(res.cmd), res.err)
			}
			if pe.Tag != "a" || pe.Status != "BAD" || !strings.Contains(pe.Text, tt.text) {
				t.Errorf("got %q %s %q, want BAD containing %q", pe.Tag, pe.Status, pe.Text, tt.text)
			}
			if res.rest != "next NOOP\r\n" {
				t.Errorf("stream left at %q", res.rest)
			}
		})
	}
}

// TestParseFetchPartial: the PARTIAL FETCH modifier (RFC 9394 §3.3).
func TestParseFetchPartial(t *testing.T) {
	res := readOne(t, "a UID FETCH 25900:26600 (UID FLAGS) (CHANGEDSINCE 12 PARTIAL -1:-3)\r\n", ReaderOptions{}, nil)
	if res.err != nil {
		t.Fatal(res.err)
	}
	want := &Command{Tag: "a", Name: "FETCH", UID: true, Args: &FetchArgs{Set: set("25900:26600"), Items: items("UID", "FLAGS"),
		ChangedSince: 12, Partial: &PartialRange{Start: 1, Stop: 3, Last: true}}}
	if !reflect.DeepEqual(res.cmd, want) {
		t.Errorf("got  %s\nwant %s", dump(res.cmd), dump(want))
	}
	res = readOne(t, "a UID FETCH 1:* FLAGS (PARTIAL 1:2 PARTIAL 3:4)\r\n", ReaderOptions{}, nil)
	var pe *ParseError
	if !errors.As(res.err, &pe) || !strings.Contains(pe.Text, "PARTIAL given twice") {
		t.Errorf("PARTIAL twice: %v", res.err)
	}
}
