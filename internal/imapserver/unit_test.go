package imapserver

import (
	"slices"
	"testing"

	"postel/internal/imap"
)

func TestMatchPattern(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"*", "a/b/c", true},
		{"%", "a", true},
		{"%", "a/b", false},
		{"a/%", "a/b", true},
		{"a/%", "a/b/c", false},
		{"a/*", "a/b/c", true},
		{"a*", "a", true},
		{"a*c", "a/b/c", true},
		{"a%c", "a/b/c", false},
		{"a%c", "abc", true},
		{"%/%", "a/b", true},
		{"", "a", false},
		{"inbox", "INBOX", true},       // INBOX is case-insensitive
		{"InBoX/%", "INBOX/Sub", true}, // also as a first level
		{"inbox/sub", "INBOX/Sub", false},
		{"sent", "Sent", false}, // other names are not
		{"*%*%*%*%*%*%*%*%*%*%x", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
		{"Entw%rfe", "Entwürfe", true},
	}
	for _, tc := range tests {
		if got := matchPattern(tc.pattern, tc.name); got != tc.want {
			t.Errorf("matchPattern(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

func TestResolve(t *testing.T) {
	v := &mailboxView{saved: []uint32{7, 3, 99}}
	for _, u := range []uint32{3, 5, 7, 9, 11} {
		v.msgs = append(v.msgs, msg{uid: u})
	}
	set := func(s string) imap.SeqSet {
		ss, err := imap.ParseSeqSet(s)
		if err != nil {
			t.Fatal(err)
		}
		return ss
	}
	tests := []struct {
		set     imap.SeqSet
		uid     bool
		want    []int
		wantErr bool
	}{
		{set("1:*"), false, []int{0, 1, 2, 3, 4}, false},
		{set("*:4"), false, []int{3, 4}, false},
		{set("2,4,2:3"), false, []int{1, 2, 3}, false},
		{set("6"), false, nil, true}, // beyond the last message
		{set("1:*"), true, []int{0, 1, 2, 3, 4}, false},
		{set("4:8"), true, []int{1, 2}, false},
		{set("100:*"), true, []int{4}, false}, // n:* always holds the last
		{set("1,2,4,6"), true, nil, false},    // no such UIDs
		{set("9:9,3"), true, []int{0, 3}, false},
		{imap.SeqSet{Saved: true}, true, []int{2, 0}, false},
	}
	for _, tc := range tests {
		got, err := v.resolve(tc.set, tc.uid)
		if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
			t.Errorf("resolve(%v, uid=%v) = %v, %v; want %v (error %v)", tc.set, tc.uid, got, err, tc.want, tc.wantErr)
		}
	}
	empty := &mailboxView{}
	if got, err := empty.resolve(set("1:*"), false); err != nil || got != nil {
		t.Errorf("1:* of an empty mailbox = %v, %v", got, err)
	}
}

func TestFieldValues(t *testing.T) {
	raw := "Subject: =?utf-8?q?caf=C3=A9?= time\r\nX-Long: one\r\n two\r\n\tthree\r\nX-Empty:\r\n\r\n"
	want := []string{"café time", "one two three", ""}
	if got := fieldValues([]byte(raw)); !slices.Equal(got, want) {
		t.Errorf("fieldValues = %q, want %q", got, want)
	}
}

func TestSectionString(t *testing.T) {
	tests := []struct {
		sec  imap.Section
		want string
	}{
		{imap.Section{}, ""},
		{imap.Section{Part: []int{1, 2}}, "1.2"},
		{imap.Section{Part: []int{3}, Specifier: "MIME"}, "3.MIME"},
		{imap.Section{Specifier: "HEADER.FIELDS", Fields: []string{"From", "to"}}, "HEADER.FIELDS (From to)"},
		{imap.Section{Part: []int{2}, Specifier: "TEXT"}, "2.TEXT"},
		{imap.Section{Specifier: "HEADER.FIELDS.NOT", Fields: []string{"Sub ject", `a"b]`, "x\r\ny", "X-Ok"}},
			"HEADER.FIELDS.NOT (\"Sub ject\" \"a\\\"b]\" {4}\r\nx\r\ny X-Ok)"},
	}
	for _, tc := range tests {
		if got := sectionString(&tc.sec); got != tc.want {
			t.Errorf("sectionString(%+v) = %q, want %q", tc.sec, got, tc.want)
		}
	}
}

func TestFlags(t *testing.T) {
	tests := [][]string{
		{},
		{`\Seen`},
		{`\Answered`, `\Deleted`, `\Draft`, `\Flagged`, `\Seen`},
		{`\Deleted`, `$label`, `work`},
		{`$only`},
	}
	for _, flags := range tests {
		sys, kw := splitFlags(flags)
		m := msg{sys: sys, keywords: kw}
		if got := m.flags(); !slices.Equal(got, flags) {
			t.Errorf("flags of %q = %q", flags, got)
		}
		if m.has(bitSeen) != slices.Contains(flags, `\Seen`) {
			t.Errorf("has(\\Seen) wrong for %q", flags)
		}
	}
	// A keyword added must not change the shared list of another message.
	a := msg{sys: bitSeen}
	b := msg{sys: bitSeen, keywords: []string{"x"}}
	b.flags()
	if got := a.flags(); !slices.Equal(got, []string{`\Seen`}) {
		t.Errorf("shared flag list changed: %q", got)
	}
}

func TestSavedResult(t *testing.T) {
	v := &mailboxView{}
	for _, u := range []uint32{10, 20, 30} {
		v.msgs = append(v.msgs, msg{uid: u})
	}
	res := []found{{i: 0}, {i: 1}, {i: 2}}
	p2 := &imap.PartialRange{Start: 2, Stop: 2}
	last := &imap.PartialRange{Start: 1, Stop: 1, Last: true}
	tests := []struct {
		opts    []string
		partial *imap.PartialRange
		want    []uint32
	}{
		{[]string{"SAVE"}, nil, []uint32{10, 20, 30}},
		{[]string{"SAVE", "MIN"}, nil, []uint32{10}},
		{[]string{"SAVE", "MAX"}, nil, []uint32{30}},
		{[]string{"SAVE", "MIN", "MAX"}, nil, []uint32{10, 30}},
		{[]string{"SAVE", "MIN", "COUNT"}, nil, []uint32{10, 20, 30}},
		// RFC 9394 §3.2: PARTIAL saves its range, with MIN and MAX
		// their messages; with COUNT, everything.
		{[]string{"SAVE", "PARTIAL"}, p2, []uint32{20}},
		{[]string{"SAVE", "PARTIAL"}, last, []uint32{30}},
		{[]string{"SAVE", "PARTIAL", "MIN"}, p2, []uint32{10, 20}},
		{[]string{"SAVE", "PARTIAL", "MIN", "MAX"}, p2, []uint32{10, 20, 30}},
		{[]string{"SAVE", "PARTIAL", "COUNT"}, p2, []uint32{10, 20, 30}},
	}
	for _, tc := range tests {
		if got := savedResult(res, v, tc.opts, tc.partial); !slices.Equal(got, tc.want) {
			t.Errorf("savedResult(%v, %v) = %v, want %v", tc.opts, tc.partial, got, tc.want)
		}
	}
}
