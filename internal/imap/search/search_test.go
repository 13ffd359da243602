package search

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"postel/internal/imap"
)

// Program builders.

func key(op string) *imap.SearchKey { return &imap.SearchKey{Op: op} }

func and(c ...*imap.SearchKey) *imap.SearchKey { return &imap.SearchKey{Op: "AND", Children: c} }

func or(a, b *imap.SearchKey) *imap.SearchKey {
	return &imap.SearchKey{Op: "OR", Children: []*imap.SearchKey{a, b}}
}

func not(a *imap.SearchKey) *imap.SearchKey {
	return &imap.SearchKey{Op: "NOT", Children: []*imap.SearchKey{a}}
}

func str(op, v string) *imap.SearchKey { return &imap.SearchKey{Op: op, Value: v} }

func hdr(field, v string) *imap.SearchKey {
	return &imap.SearchKey{Op: "HEADER", Field: field, Value: v}
}

func num(op string, n int64) *imap.SearchKey { return &imap.SearchKey{Op: op, Number: n} }

// date makes a date key; the parser gives days at midnight UTC.
func date(op, d string) *imap.SearchKey {
	t, err := time.Parse("2006-01-02", d)
	if err != nil {
		panic(err)
	}
	return &imap.SearchKey{Op: op, Date: t}
}

// set makes a SEQSET or UID key from "1:4,*,$" notation.
func set(op, s string) *imap.SearchKey {
	ss := &imap.SeqSet{}
	for _, part := range strings.Split(s, ",") {
		if part == "$" {
			ss.Saved = true
			continue
		}
		lo, hi, ok := strings.Cut(part, ":")
		if !ok {
			hi = lo
		}
		ss.Ranges = append(ss.Ranges, imap.SeqRange{Start: seqNum(lo), Stop: seqNum(hi)})
	}
	return &imap.SearchKey{Op: op, Set: ss}
}

func seqNum(s string) uint32 {
	if s == "*" {
		return 0
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		panic(err)
	}
	return uint32(n)
}

var pdt = time.FixedZone("PDT", -7*3600)

// testMessage returns the message the table tests run on.
func testMessage() *Message {
	headers := map[string][]string{
		"x-mailer": {"Mutt/2.2 (Linux)"},
		"list-id":  {""},
		"received": {"from a by b", "from c by d"},
	}
	return &Message{
		SeqNum: 5, UID: 50, ModSeq: 700,
		Flags:        []string{`\Seen`, `\Flagged`, "$forwarded"},
		InternalDate: time.Date(2025, 7, 1, 23, 30, 0, 0, time.UTC),
		SaveDate:     time.Date(2025, 7, 3, 10, 0, 0, 0, time.UTC),
		Size:         2000,
		// June 30 in its own zone, July 1 in UTC.
		Sent:    time.Date(2025, 6, 30, 23, 59, 0, 0, pdt),
		Subject: "Réunion: Straße ÉTÉ",
		From:    "Alice <alice@example.org>",
		To:      "bob@example.net",
		Bcc:     "Secret <s@example.org>",
		Header: func(f string) []string {
			return headers[strings.ToLower(f)]
		},
		Text: func() (string, string, error) {
			return "From: Alice <alice@example.org>\nSubject: Réunion: Straße ÉTÉ",
				"Hello Wörld\nKELVIN: \u212a", nil
		},
	}
}

func testContext() *Context {
	return &Context{
		MaxSeq: 10, MaxUID: 99,
		Saved: []uint32{3, 50, 77},
		Now:   time.Date(2025, 7, 5, 0, 0, 0, 0, time.UTC),
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		k    *imap.SearchKey
		want bool
	}{
		{key("ALL"), true},
		{key("ANSWERED"), false},
		{key("UNANSWERED"), true},
		{key("DELETED"), false},
		{key("UNDELETED"), true},
		{key("DRAFT"), false},
		{key("UNDRAFT"), true},
		{key("FLAGGED"), true},
		{key("UNFLAGGED"), false},
		{key("SEEN"), true},
		{key("UNSEEN"), false},
		{key("RECENT"), false},
		{key("NEW"), false},
		{key("OLD"), true},
		{str("KEYWORD", "$Forwarded"), true},
		{str("KEYWORD", "junk"), false},
		{str("UNKEYWORD", "junk"), true},
		{str("UNKEYWORD", "$FORWARDED"), false},

		{str("BCC", "SECRET"), true},
		{str("BCC", "alice"), false},
		{str("CC", "x"), false},
		{str("CC", ""), true},
		{str("FROM", "ALICE@EXAMPLE"), true},
		{str("FROM", "bob"), false},
		{str("TO", "Bob@"), true},
		{str("TO", "carol"), false},
		{str("SUBJECT", "réunion"), true},
		{str("SUBJECT", "RÉUNION: straße été"), true},
		{str("SUBJECT", "strasse"), false}, // simple folding: ß is not ss
		{str("SUBJECT", "reunion"), false}, // no accent folding
		{hdr("X-Mailer", "mutt/2"), true},
		{hdr("x-mailer", "pine"), false},
		{hdr("X-Mailer", ""), true},
		{hdr("List-Id", ""), true}, // present though empty
		{hdr("List-Id", "x"), false},
		{hdr("Missing", ""), false},
		{hdr("Received", "FROM C"), true}, // any of the fields
		{str("BODY", "wörld"), true},
		{str("BODY", "WÖRLD"), true},
		{str("BODY", "alice"), false}, // only in the header
		{str("TEXT", "alice"), true},
		{str("TEXT", "kelvin: k"), true}, // KELVIN SIGN folds with k
		{str("TEXT", "nowhere"), false},
		{str("TEXT", ""), true},

		{date("BEFORE", "2025-07-01"), false},
		{date("BEFORE", "2025-07-02"), true},
		{date("ON", "2025-07-01"), true},
		{date("ON", "2025-07-02"), false},
		{date("SINCE", "2025-07-01"), true},
		{date("SINCE", "2025-07-02"), false},
		{date("SENTON", "2025-06-30"), true}, // the Date header's own day
		{date("SENTON", "2025-07-01"), false},
		{date("SENTBEFORE", "2025-07-01"), true},
		{date("SENTBEFORE", "2025-06-30"), false},
		{date("SENTSINCE", "2025-06-30"), true},
		{date("SENTSINCE", "2025-07-01"), false},
		{date("SAVEDON", "2025-07-03"), true},
		{date("SAVEDBEFORE", "2025-07-03"), false},
		{date("SAVEDBEFORE", "2025-07-04"), true},
		{date("SAVEDSINCE", "2025-07-03"), true},
		{date("SAVEDSINCE", "2025-07-04"), false},
		{key("SAVEDATESUPPORTED"), true},

		{num("LARGER", 1999), true},
		{num("LARGER", 2000), false},
		{num("SMALLER", 2000), false},
		{num("SMALLER", 2001), true},

		{set("SEQSET", "1:4"), false},
		{set("SEQSET", "4:6"), true},
		{set("SEQSET", "6:4"), true},
		{set("SEQSET", "5"), true},
		{set("SEQSET", "*"), false},
		{set("SEQSET", "1,3,5"), true},
		{set("SEQSET", "6:*"), false},
		{set("SEQSET", "*:5"), true},
		{set("SEQSET", "$"), true}, // "$" holds UIDs
		{set("UID", "50:*"), true},
		{set("UID", "*:60"), false},
		{set("UID", "100:*"), false}, // 99:100
		{set("UID", "5"), false},
		{set("UID", "$"), true},
		{num("MODSEQ", 700), true},
		{num("MODSEQ", 1), true},
		{num("MODSEQ", 701), false},
		{num("OLDER", 3600), true},
		{num("YOUNGER", 3600), false},
		{num("YOUNGER", 3*86400+1800), true}, // exactly at the edge is within
		{num("OLDER", 3*86400+1800), false},
		{num("OLDER", 3*86400+1799), true},
		{num("YOUNGER", 1<<62), true},

		{and(), true},
		{and(key("SEEN"), key("FLAGGED")), true},
		{and(key("SEEN"), key("DELETED")), false},
		{or(key("SEEN"), key("DELETED")), true},
		{or(key("DELETED"), key("DRAFT")), false},
		{or(key("DELETED"), str("TEXT", "hello")), true},
		{not(key("SEEN")), false},
		{not(or(key("DELETED"), not(key("FLAGGED")))), true},
		{and(set("UID", "1:60"), or(str("FROM", "carol"), and(not(key("DRAFT")), str("BODY", "hello")))), true},
		{and(set("UID", "1:60"), or(str("FROM", "carol"), and(not(key("SEEN")), str("BODY", "hello")))), false},
	}
	for _, tt := range tests {
		got, err := Match(tt.k, testMessage(), testContext())
		if err != nil {
			t.Errorf("%s: %v", describe(tt.k), err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s = %v, want %v", describe(tt.k), got, tt.want)
		}
	}
}

// describe renders a key for test messages.
func describe(k *imap.SearchKey) string {
	var sb strings.Builder
	sb.WriteString(k.Op)
	if k.Field != "" {
		sb.WriteString(" " + k.Field)
	}
	if k.Value != "" {
		sb.WriteString(" " + strconv.Quote(k.Value))
	}
	if !k.Date.IsZero() {
		sb.WriteString(" " + k.Date.Format("2-Jan-2006"))
	}
	if k.Number != 0 {
		sb.WriteString(" " + strconv.FormatInt(k.Number, 10))
	}
	if k.Set != nil {
		sb.WriteString(" " + strings.ReplaceAll(strings.Trim(strconv.Quote(stringSet(k.Set)), `"`), " ", ""))
	}
	for _, c := range k.Children {
		sb.WriteString(" (" + describe(c) + ")")
	}
	return sb.String()
}

func stringSet(s *imap.SeqSet) string {
	var parts []string
	for _, r := range s.Ranges {
		parts = append(parts, strconv.Itoa(int(r.Start))+":"+strconv.Itoa(int(r.Stop)))
	}
	if s.Saved {
		parts = append(parts, "$")
	}
	return strings.Join(parts, ",")
}

// TestMatchDays checks that dates compare as days in each time's own
// location, and the fallbacks to the internal date.
func TestMatchDays(t *testing.T) {
	tokyo := time.FixedZone("JST", 9*3600)
	m := &Message{
		// July 2 in Tokyo, July 1 in UTC.
		InternalDate: time.Date(2025, 7, 2, 1, 0, 0, 0, tokyo),
	}
	for _, tt := range []struct {
		k    *imap.SearchKey
		want bool
	}{
		{date("ON", "2025-07-02"), true},
		{date("ON", "2025-07-01"), false},
		// No Date header, no save date: the internal date stands in.
		{date("SENTON", "2025-07-02"), true},
		{date("SAVEDON", "2025-07-02"), true},
		{date("SAVEDBEFORE", "2025-07-02"), false},
	} {
		got, err := Match(tt.k, m, nil)
		if err != nil || got != tt.want {
			t.Errorf("%s = %v, %v; want %v", describe(tt.k), got, err, tt.want)
		}
	}
}

func TestMatchLoadsLazily(t *testing.T) {
	calls := 0
	m := testMessage()
	text := m.Text
	m.Text = func() (string, string, error) {
		calls++
		return text()
	}
	m.Header = nil // not needed: must not be called

	// A false cheap key spares the text, wherever it stands.
	got, err := Match(and(str("TEXT", "hello"), key("DELETED")), m, testContext())
	if err != nil || got || calls != 0 {
		t.Errorf("got %v, %v after %d loads", got, err, calls)
	}
	got, err = Match(or(str("BODY", "zzz"), key("SEEN")), m, testContext())
	if err != nil || !got || calls != 0 {
		t.Errorf("OR: got %v, %v after %d loads", got, err, calls)
	}
	// Several text keys load the text once.
	got, err = Match(and(str("TEXT", "hello"), str("BODY", "wörld"), not(str("TEXT", "zzz"))), m, testContext())
	if err != nil || !got || calls != 1 {
		t.Errorf("got %v, %v after %d loads", got, err, calls)
	}
}

func TestMatchErrors(t *testing.T) {
	errText := errors.New("message file gone")
	broken := testMessage()
	broken.Text = func() (string, string, error) { return "", "", errText }
	bare := &Message{}
	tests := []struct {
		k       *imap.SearchKey
		m       *Message
		program bool // an ErrProgram, else the text error or a missing loader
	}{
		{key("FUZZY"), testMessage(), true},
		{&imap.SearchKey{Op: "OR", Children: []*imap.SearchKey{key("ALL")}}, testMessage(), true},
		{&imap.SearchKey{Op: "NOT"}, testMessage(), true},
		{&imap.SearchKey{Op: "UID"}, testMessage(), true},
		{&imap.SearchKey{Op: "SEQSET"}, testMessage(), true},
		{nil, testMessage(), true},
		{and(key("ALL"), nil), testMessage(), true},
		{str("TEXT", "x"), broken, false},
		{not(str("BODY", "x")), broken, false},
		{str("TEXT", "x"), bare, false},
		{hdr("X", ""), bare, false},
	}
	for _, tt := range tests {
		got, err := Match(tt.k, tt.m, testContext())
		if err == nil || got {
			t.Errorf("%v: got %v, %v; want an error", tt.k, got, err)
			continue
		}
		if errors.Is(err, ErrProgram) != tt.program {
			t.Errorf("%v: error %v", tt.k, err)
		}
	}
	if _, err := Match(str("TEXT", "x"), broken, testContext()); !errors.Is(err, errText) {
		t.Errorf("text error not wrapped: %v", err)
	}
	deep := key("ALL")
	for range maxDepth + 1 {
		deep = not(deep)
	}
	if _, err := Match(deep, testMessage(), testContext()); !errors.Is(err, ErrProgram) {
		t.Errorf("too deep: %v", err)
	}
}

func TestNeedsOf(t *testing.T) {
	tests := []struct {
		k    *imap.SearchKey
		want Needs
	}{
		{key("ALL"), Needs{}},
		{str("SUBJECT", "x"), Needs{}},
		{str("TEXT", "hello"), Needs{Text: true, Terms: []string{"hello"}}},
		{hdr("X-Spam", ""), Needs{Headers: true}},
		{
			and(str("TEXT", "a"), or(str("BODY", "b"), key("SEEN")), not(str("TEXT", "c")),
				str("BODY", "d"), and(str("TEXT", "e"), str("TEXT", "a")), str("TEXT", "")),
			Needs{Text: true, Body: true, Terms: []string{"a", "d", "e"}},
		},
		{or(str("TEXT", "a"), str("TEXT", "b")), Needs{Text: true}},
		{not(and(str("BODY", "a"))), Needs{Body: true}},
		{and(key("UNSEEN"), hdr("List-Id", "x"), str("BODY", "y")), Needs{Body: true, Headers: true, Terms: []string{"y"}}},
	}
	for _, tt := range tests {
		got := NeedsOf(tt.k)
		if got.Text != tt.want.Text || got.Body != tt.want.Body || got.Headers != tt.want.Headers || !slices.Equal(got.Terms, tt.want.Terms) {
			t.Errorf("NeedsOf(%s) = %+v, want %+v", describe(tt.k), got, tt.want)
		}
	}
}

func TestFold(t *testing.T) {
	tests := []struct {
		s, sub string
		want   bool
	}{
		{"Hello", "hELLO", true},
		{"ÉCOLE", "école", true},
		{"ΣΊΣΥΦΟΣ", "σίσυφος", true}, // final sigma folds with sigma
		{"\u212a", "k", true},        // KELVIN SIGN
		{"\u017ftop", "STOP", true},  // LATIN SMALL LETTER LONG S
		{"Straße", "STRASSE", false}, // full folding only
		{"naïve", "naive", false},
		{"\xff\xfe", "\ufffd", true}, // invalid bytes stand for U+FFFD
	}
	for _, tt := range tests {
		if got := contains(tt.s, tt.sub); got != tt.want {
			t.Errorf("contains(%q, %q) = %v", tt.s, tt.sub, got)
		}
	}
}

// FuzzFold checks fold against the standard library's simple folding:
// two strings fold alike exactly when strings.EqualFold says they are equal.
func FuzzFold(f *testing.F) {
	f.Add("Hello", "hELLO")
	f.Add("\u212a\u017f", "ks")
	f.Add("ΣΊΣΥΦΟΣ", "σίσυφος")
	f.Add("Straße", "STRASSE")
	f.Add("\xff", "\ufffd")
	f.Fuzz(func(t *testing.T, a, b string) {
		fa, fb := fold(a), fold(b)
		if fold(fa) != fa {
			t.Errorf("fold not idempotent on %q", a)
		}
		if (fa == fb) != strings.EqualFold(a, b) {
			t.Errorf("fold(%q) = %q, fold(%q) = %q; EqualFold %v", a, fa, b, fb, strings.EqualFold(a, b))
		}
	})
}
