package imapurl

import (
	"reflect"
	"testing"
)

func TestParse(t *testing.T) {
	base := Base("imap.example.org", "Lists/Go Nuts", 7)
	if base != "imap://imap.example.org/Lists/Go%20Nuts;UIDVALIDITY=7/" {
		t.Fatalf("Base = %q", base)
	}
	tests := []struct {
		ref, base string
		want      URL
	}{
		{"imap://imap.example.org/INBOX/;UID=20", "",
			URL{Host: "imap.example.org", Mailbox: "INBOX", UID: 20}},
		{"IMAP://alice%40example.org;AUTH=*@IMAP.Example.org:143/INBOX;UIDVALIDITY=385759045/;UID=20/;SECTION=1.2/;PARTIAL=10.20", "",
			URL{User: "alice@example.org", Auth: "*", Host: "imap.example.org", Port: 143, Mailbox: "INBOX",
				UIDValidity: 385759045, UID: 20, Section: "1.2", HasPartial: true, Offset: 10, Length: 20}},
		{"imap://;AUTH=PLAIN@h/INBOX/;uid=1/;section=HEADER.FIELDS%20(From)/;partial=5", "",
			URL{Auth: "PLAIN", Host: "h", Mailbox: "INBOX", UID: 1, Section: "HEADER.FIELDS (From)", HasPartial: true, Offset: 5}},
		// RFC 5092: relative to the selected mailbox, or to the server.
		{";UID=20/;SECTION=1.MIME", base,
			URL{Host: "imap.example.org", Mailbox: "Lists/Go Nuts", UIDValidity: 7, UID: 20, Section: "1.MIME"}},
		{"/Drafts;UIDVALIDITY=3/;UID=2", base,
			URL{Host: "imap.example.org", Mailbox: "Drafts", UIDValidity: 3, UID: 2}},
		{"Drafts/;UID=2", Base("imap.example.org", "", 0),
			URL{Host: "imap.example.org", Mailbox: "Drafts", UID: 2}},
		{"/%C3%A9t%C3%A9/;UID=2", base,
			URL{Host: "imap.example.org", Mailbox: "été", UID: 2}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.ref, tt.base)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.ref, err)
			continue
		}
		if !reflect.DeepEqual(*got, tt.want) {
			t.Errorf("Parse(%q) =\n %+v\nwant %+v", tt.ref, *got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	base := Base("imap.example.org", "INBOX", 7)
	bad := []struct{ ref, base string }{
		{";UID=1", ""},                                     // relative without a base
		{"http://h/INBOX/;UID=1", ""},                      // another scheme
		{"imap:///INBOX/;UID=1", ""},                       // no host
		{"imap://h/INBOX", ""},                             // a mailbox, not a message
		{"imap://h/INBOX/;UID=0", ""},                      // UID 0
		{"imap://h/INBOX/;UID=4294967296", ""},             // past 32 bits
		{"imap://h/INBOX;UIDVALIDITY=x/;UID=1", ""},        // bad UIDVALIDITY
		{"imap://h/INBOX/;UID=1/;SECTION=", ""},            // empty section
		{"imap://h/INBOX/;UID=1/;PARTIAL=1.0", ""},         // zero length
		{"imap://h/INBOX/;UID=1/;PARTIAL=-1", ""},          // negative offset
		{"imap://h/INBOX/;UID=1/;URLAUTH=anonymous:x", ""}, // URLAUTH (RFC 4467) not taken
		{"imap://h/INBOX/;UID=1?x", ""},                    // query
		{"imap://h/INBOX/;UID=1#x", ""},                    // fragment
		{"imap://u:pw@h/INBOX/;UID=1", ""},                 // a password
		{"imap://h/IN%ZZBOX/;UID=1", ""},                   // bad escape
		{"imap://h/IN%00BOX/;UID=1", ""},                   // NUL
		{"imap://h/%FF/;UID=1", ""},                        // not UTF-8
		{"imap://h/INBOX/;UID=1 x", ""},                    // space
		{"/;UID=1", base},                                  // no mailbox
		{"imap://h/IN;X=1BOX/;UID=1", ""},                  // unknown parameter
		{"", base},
	}
	for _, tt := range bad {
		if got, err := Parse(tt.ref, tt.base); err == nil {
			t.Errorf("Parse(%q, %q) = %+v, want an error", tt.ref, tt.base, got)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(";UID=20/;SECTION=1.MIME", true)
	f.Add("imap://alice%40example.org;AUTH=*@h:143/INBOX;UIDVALIDITY=3/;UID=20/;PARTIAL=10.20", false)
	f.Add("../Drafts/;UID=2", true)
	f.Fuzz(func(t *testing.T, ref string, relative bool) {
		base := ""
		if relative {
			base = Base("imap.example.org", "Lists/a b", 7)
		}
		u, err := Parse(ref, base)
		if err != nil {
			return
		}
		if u.UID == 0 || u.Mailbox == "" || u.Host == "" || (u.HasPartial && u.Offset < 0) || u.Length < 0 {
			t.Fatalf("Parse(%q) = %+v", ref, u)
		}
	})
}
