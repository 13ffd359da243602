package message

import (
	"reflect"
	"testing"
)

func TestParseAddressList(t *testing.T) {
	tests := []struct {
		in   string
		want []Address
		text string // formatAddressList of the result
	}{
		{"", nil, ""},
		{"  (just a comment) ", nil, ""},
		{"a@example.org", []Address{{"", "a", "example.org", ""}}, "a@example.org"},
		{"Alice <a@x.org>, b@y.org", []Address{{"Alice", "a", "x.org", ""}, {"", "b", "y.org", ""}}, "Alice <a@x.org>, b@y.org"},
		{`"Doe, John" <j@x.org>`, []Address{{"Doe, John", "j", "x.org", ""}}, "Doe, John <j@x.org>"},
		{"a@b.org (Comment Name)", []Address{{"Comment Name", "a", "b.org", ""}}, "Comment Name <a@b.org>"},
		{`"a b"@x.org`, []Address{{"", `"a b"`, "x.org", ""}}, `"a b"@x.org`},
		{"a@[192.0.2.1]", []Address{{"", "a", "[192.0.2.1]", ""}}, "a@[192.0.2.1]"},
		{"=?UTF-8?Q?J=C3=B6rg?= <j@x.org>", []Address{{"Jörg", "j", "x.org", ""}}, "Jörg <j@x.org>"},
		{"=?ISO-8859-1?B?QW5kcuk=?= <a@x.org>", []Address{{"André", "a", "x.org", ""}}, "André <a@x.org>"},
		{`"Jörg" <j@x.org>`, []Address{{"Jörg", "j", "x.org", ""}}, "Jörg <j@x.org>"},
		// Groups (RFC 5322 §3.4, RFC 9051 §7.5.2).
		{"undisclosed-recipients:;", []Address{{"", "undisclosed-recipients", "", ""}, {}}, "undisclosed-recipients:;"},
		{"A Team: a@x.org, B <b@y.org>;, c@z.org", []Address{{"", "A Team", "", ""}, {"", "a", "x.org", ""}, {"B", "b", "y.org", ""}, {}, {"", "c", "z.org", ""}},
			"A Team: a@x.org, B <b@y.org>;, c@z.org"},
		{`"Quoted Team": a@x.org`, []Address{{"", "Quoted Team", "", ""}, {"", "a", "x.org", ""}, {}}, "Quoted Team: a@x.org;"},
		{": a@x.org;", []Address{{"", "a", "x.org", ""}}, "a@x.org"},
		{"G: a@x.org; H: ;", []Address{{"", "G", "", ""}, {"", "a", "x.org", ""}, {}, {"", "H", "", ""}, {}}, "G: a@x.org;, H:;"},
		// Routes and specials inside angle brackets do not split.
		{"R <@relay.net,@r2.net:r@x.org>, s@y.org", []Address{{"R", "r", "x.org", "@relay.net,@r2.net"}, {"", "s", "y.org", ""}}, "R <r@x.org>, s@y.org"},
		{"<@a.example, @b.example : u@c.example>", []Address{{"", "u", "c.example", "@a.example,@b.example"}}, "u@c.example"},
		// CFWS around the tokens of an angle-addr (RFC 5322 §3.2.2).
		{"<user (comment)@ (comment) example.org>", []Address{{"", "user", "example.org", ""}}, "user@example.org"},
		{"Joe (x) <user (c) . x @ (d) dom . ain>", []Address{{"Joe", "user.x", "dom.ain", ""}}, "Joe <user.x@dom.ain>"},
		{"<\"a b\" (c) @ [ 192.0.2.1 ]>", []Address{{"", `"a b"`, "[192.0.2.1]", ""}}, `"a b"@[192.0.2.1]`},
		// Malformed addresses degrade rather than vanish.
		{"foo", []Address{{"", "foo", MissingHost, ""}}, "foo"},
		{"Name <>", []Address{{"Name", MissingMailbox, MissingHost, ""}}, "Name <MISSING_MAILBOX>"},
		{"<@x.org>", []Address{{"", MissingMailbox, "x.org", ""}}, "MISSING_MAILBOX@x.org"},
		{"Name <a@x.org> junk", []Address{{"Name", "a", "x.org", ""}}, "Name <a@x.org>"},
		{"=?x-unknown?q?M?= <m@x.org>", []Address{{"=?x-unknown?q?M?=", "m", "x.org", ""}}, "=?x-unknown?q?M?= <m@x.org>"},
		{"a.@x.org", []Address{{"", "a.", "x.org", ""}}, "a.@x.org"},
		{"\"unterminated <u@x.org>", []Address{{"", "unterminated<u", "x.org>", ""}}, "unterminated<u@x.org>"},
		{"Bad\xff <b@x.org>", []Address{{"Bad\uFFFD", "b", "x.org", ""}}, "Bad\uFFFD <b@x.org>"},
		{",,a@x.org,,", []Address{{"", "a", "x.org", ""}}, "a@x.org"},
	}
	for _, tt := range tests {
		got := parseAddressList(tt.in)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseAddressList(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			continue
		}
		if text := formatAddressList(got); text != tt.text {
			t.Errorf("formatAddressList(%q) = %q, want %q", tt.in, text, tt.text)
		}
		if err := checkEnvelope(&Envelope{To: got}); err != nil {
			t.Errorf("parseAddressList(%q): %v", tt.in, err)
		}
	}
}
