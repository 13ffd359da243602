package message

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

func TestParseParamField(t *testing.T) {
	tests := []struct {
		in     string
		media  bool
		value  string
		params map[string]string
		ok     bool
	}{
		{"text/plain", true, "text/plain", nil, true},
		{"Text/HTML; Charset=\"UTF-8\"", true, "text/html", map[string]string{"charset": "UTF-8"}, true},
		// RFC 2045 §5.1 example: a comment after the value.
		{"text/plain; charset=us-ascii (Plain text)", true, "text/plain", map[string]string{"charset": "us-ascii"}, true},
		{"(c) text (c) / (c) plain (c) ; (c) a (c) = (c) b (c)", true, "text/plain", map[string]string{"a": "b"}, true},
		{`multipart/mixed; boundary="----=_Part_0_1.2"`, true, "multipart/mixed", map[string]string{"boundary": "----=_Part_0_1.2"}, true},
		// Unquoted values with specials, as sent in the wild.
		{"multipart/mixed; boundary=----=_NextPart_000", true, "multipart/mixed", map[string]string{"boundary": "----=_NextPart_000"}, true},
		{`multipart/mixed; boundary="=?utf-8?q?y?="`, true, "multipart/mixed", map[string]string{"boundary": "=?utf-8?q?y?="}, true},
		{`text/plain; name="a \"q\" \\ b"`, true, "text/plain", map[string]string{"name": `a "q" \ b`}, true},
		// A missing semicolon, duplicates (the first wins), junk, empty parameters.
		{"text/plain; charset=utf-8 format=flowed", true, "text/plain", map[string]string{"charset": "utf-8", "format": "flowed"}, true},
		{"text/plain; a=1; A=2", true, "text/plain", map[string]string{"a": "1"}, true},
		{"text/plain;;; junk; =x; b; c=; d=4;", true, "text/plain", map[string]string{"c": "", "d": "4"}, true},
		{`text/plain; name="unterminated`, true, "text/plain", map[string]string{"name": "unterminated"}, true},
		// Not a media type.
		{"", true, "", nil, false},
		{"text", true, "text", nil, false},
		{"text/", true, "text/", nil, false},
		{"/plain", true, "/plain", nil, false},
		{";;; garbage", true, "", nil, false},
		// RFC 2231 §3 continuations, §4 charsets and languages.
		{"application/x-stuff; title*0*=us-ascii'en'This%20is%20even%20more%20; title*1*=%2A%2A%2Afun%2A%2A%2A%20; title*2=\"isn't it!\"",
			true, "application/x-stuff", map[string]string{"title": "This is even more ***fun*** isn't it!"}, true},
		{"attachment; filename*=iso-8859-1'fr'caf%E9.txt", false, "attachment", map[string]string{"filename": "café.txt"}, true},
		{"attachment; filename*=UTF-8''%e2%82%ac.txt; filename=euro.txt", false, "attachment", map[string]string{"filename": "€.txt"}, true},
		{"attachment; filename*=''plain%zz%4", false, "attachment", map[string]string{"filename": "plain%zz%4"}, true},
		{"attachment; filename*=unknown-cs''%41", false, "attachment", map[string]string{"filename": "A"}, true},
		{"attachment; filename*=windows-1252''%80", false, "attachment", map[string]string{"filename": "€"}, true},
		// A gap ends the continuation; section 0 missing drops it; bad numbers are ignored.
		{"inline; n*0=a; n*1=b; n*3=d", false, "inline", map[string]string{"n": "ab"}, true},
		{"inline; n*1=b", false, "inline", nil, true},
		{"inline; n*01=x; n*x=y; n*99999=z; n*0=a", false, "inline", map[string]string{"n": "a"}, true},
		// RFC 2047 encoded words in a plain value, against RFC 2047 §5 but common.
		{`attachment; filename="=?UTF-8?B?w6kudHh0?="`, false, "attachment", map[string]string{"filename": "é.txt"}, true},
		// Invalid UTF-8 is replaced.
		{"attachment; filename=\"\xff.txt\"", false, "attachment", map[string]string{"filename": "\uFFFD.txt"}, true},
		{"Attachment", false, "attachment", nil, true},
		{"; filename=x", false, "", map[string]string{"filename": "x"}, false},
	}
	for _, tt := range tests {
		value, params, ok := parseParamField(tt.in, tt.media)
		if value != tt.value || ok != tt.ok || !reflect.DeepEqual(params, tt.params) {
			t.Errorf("parseParamField(%q) = %q, %q, %v; want %q, %q, %v", tt.in, value, params, ok, tt.value, tt.params, tt.ok)
		}
	}
}

func TestTransferEncodingAndLanguage(t *testing.T) {
	encs := map[string]string{"": "7BIT", "base64": "BASE64", " Quoted-Printable (qp)": "QUOTED-PRINTABLE", "(c)": "7BIT", "8bit; x": "8BIT"}
	for in, want := range encs {
		if got := transferEncoding(in); got != want {
			t.Errorf("transferEncoding(%q) = %q, want %q", in, got, want)
		}
	}
	langs := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"en", []string{"en"}},
		{"en-US, fr-CA (Canadian French) ,, de", []string{"en-US", "fr-CA", "de"}},
		{"(only a comment)", nil},
		{"; en", []string{"en"}},
	}
	for _, tt := range langs {
		if got := languages(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("languages(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMsgIDs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"<a@b>", []string{"a@b"}},
		{"<a@b> <c@d>\t<e\t@f>", []string{"a@b", "c@d", "e@f"}},
		{"(comment) <a@b> (x)", []string{"a@b"}},
		{"bare@id", []string{"bare@id"}},
		{"two words", nil},
		{"<>", nil},
		{"<unterminated@x", nil},
		{"<a@b> <open", []string{"a@b"}},
	}
	for _, tt := range tests {
		if got := msgIDs(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("msgIDs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseDate(t *testing.T) {
	tests := []struct {
		in   string
		want string // UTC RFC 3339, "" for the zero time
	}{
		{"", ""},
		{"Tue, 1 Jul 2025 10:52:30 +0200", "2025-07-01T08:52:30Z"},
		{"Tue, 1 Jul 2025 10:52:30 +0200 (CEST)", "2025-07-01T08:52:30Z"},
		{"1 Jul 2025 10:52 -0000", "2025-07-01T10:52:00Z"},
		{"Tue, 01 Jul 25 10:52:30 GMT", "2025-07-01T10:52:30Z"},
		{"Tue, 1 Jul 2025 10:52:30 +0200 (CEST) trailing", "2025-07-01T08:52:30Z"},
		{"yesterday", ""},
		{"Tue, 32 Jul 2025 10:52:30 +0200", ""},
	}
	for _, tt := range tests {
		got := parseDate(tt.in)
		s := ""
		if !got.IsZero() {
			s = got.UTC().Format(time.RFC3339)
		}
		if s != tt.want {
			t.Errorf("parseDate(%q) = %q, want %q", tt.in, s, tt.want)
		}
	}
}

func TestParseFields(t *testing.T) {
	raw := "X-Junk\r\n continued junk\r\nSubject: a\r\n\tb\r\nBad Name: x\r\n more\r\n: empty name\r\n\r\r\nTo: c\r\n\r\nBody: not a field\r\n"
	h := parseFields([]byte(" leading continuation\r\n" + raw))
	var got []string
	for f := h.Fields(); f.Next(); {
		got = append(got, f.Key()+"="+f.Value())
	}
	want := []string{"Subject=a b", "To=c"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("fields %q, want %q", got, want)
	}
	if v := rawValue(&h, "subject"); v != "a\tb" {
		t.Errorf("raw Subject %q, want %q", v, "a\tb")
	}
	if v := rawValue(&h, "Cc"); v != "" {
		t.Errorf("raw Cc %q, want empty", v)
	}
}

func TestCapReferences(t *testing.T) {
	var ids []string
	for i := range 250 {
		ids = append(ids, fmt.Sprintf("m%d@x", i))
	}
	got := capReferences(ids)
	if len(got) != MaxReferences || got[0] != "m0@x" || got[1] != "m151@x" || got[len(got)-1] != "m249@x" {
		t.Fatalf("capReferences = %d ids, %q ... %q", len(got), got[:2], got[len(got)-1])
	}
	if short := capReferences(ids[:5]); len(short) != 5 {
		t.Fatalf("short list changed: %q", short)
	}
}
