package message

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// wantPart describes one part expected in a parsed test message. Path
// names it: "" is the root, "2" the second child of a multipart, "m" the
// root of an encapsulated message, so "2.m.1" is the first child of the
// message in part 2.
type wantPart struct {
	path   string
	typ    string            // type/subtype
	params map[string]string // exact Content-Type parameters
	body   string            // exact body bytes, with LF line breaks
	lines  int64
	mime   string             // if set, the exact header bytes, with LF line breaks
	more   func(*Part) string // further checks; returns a complaint or ""
}

type parseCase struct {
	file  string
	parts []wantPart // all parts, none left out
	env   *Envelope  // if set, the exact envelope
	check func(*Parsed) string
}

var parseCases = []parseCase{
	{
		file: "plain.eml",
		parts: []wantPart{{
			path: "", typ: "text/plain", params: map[string]string{"charset": "utf-8", "format": "flowed"},
			body: "Hi Bob,\n\nshall we meet at noon? Ça va?\n-- \nAlice\n", lines: 5,
			more: func(p *Part) string { return expect(p.Encoding, "8BIT") },
		}},
		env: &Envelope{
			Date:      "Tue, 1 Jul 2025 10:52:30 +0200 (CEST)",
			Subject:   "Lunch on Friday?",
			From:      []Address{{"Alice Example", "alice", "example.org", ""}},
			Sender:    []Address{{"Alice Example", "alice", "example.org", ""}},
			ReplyTo:   []Address{{"Alice Example", "alice", "example.org", ""}},
			To:        []Address{{"", "bob", "example.net", ""}, {"Carol, C.", "carol", "example.net", ""}},
			Cc:        []Address{{"Dave", "dave", "example.com", ""}},
			InReplyTo: "<prev.99@example.net>",
			MessageID: "<20250701.1@example.org>",
		},
		check: func(p *Parsed) string {
			return expect(p.Subject, "Lunch on Friday?") + expect(p.From, "Alice Example <alice@example.org>") +
				expect(p.To, "bob@example.net, Carol, C. <carol@example.net>") + expect(p.Cc, "Dave <dave@example.com>") +
				expect(p.Bcc, "") + expect(p.MessageID, "20250701.1@example.org") + expect(p.InReplyTo, "prev.99@example.net") +
				expect(strings.Join(p.References, " "), "root.1@example.net prev.99@example.net") +
				expect(p.Date.UTC().Format(time.RFC3339), "2025-07-01T08:52:30Z")
		},
	},
	{
		file: "alternative.eml",
		parts: []wantPart{
			{path: "", typ: "multipart/mixed", params: map[string]string{"boundary": "outer=_b1"}},
			{
				path: "1", typ: "multipart/alternative", params: map[string]string{"boundary": "inner_b2"},
				mime:  "Content-Type: multipart/alternative; boundary=inner_b2\n\n",
				body:  "--inner_b2\nContent-Type: text/plain; charset=us-ascii\nContent-Language: en, de (German)\n\nThanks for your order.\nTotal: 42 EUR\n--inner_b2\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\nContent-Location: https://shop.example/\n invoice/42.html\n\n<p>Thanks for your order.</p>\n\n--inner_b2--\nignored inner epilogue",
				lines: 16,
			},
			{
				path: "1.1", typ: "text/plain", params: map[string]string{"charset": "us-ascii"},
				body: "Thanks for your order.\nTotal: 42 EUR", lines: 2,
				mime: "Content-Type: text/plain; charset=us-ascii\nContent-Language: en, de (German)\n\n",
				more: func(p *Part) string { return expect(strings.Join(p.Language, ","), "en,de") },
			},
			{
				path: "1.2", typ: "text/html", params: map[string]string{"charset": "utf-8"},
				body: "<p>Thanks for your order.</p>\n", lines: 1,
				more: func(p *Part) string {
					return expect(p.Encoding, "QUOTED-PRINTABLE") + expect(p.Location, "https://shop.example/invoice/42.html")
				},
			},
			{
				path: "2", typ: "application/pdf", params: map[string]string{"name": "invoice 42.pdf"},
				body: "JVBERi0xLjQK", lines: 1,
				more: func(p *Part) string {
					return expect(p.Encoding, "BASE64") + expect(p.Disposition, "attachment") +
						expectMap(p.DispositionParams, map[string]string{"filename": "invoice 42.pdf", "size": "12"}) +
						expect(p.ID, "<pdf42@shop.example>") + expect(p.Description, "Invoice number 42") +
						expect(p.MD5, "Q2hlY2sgSW50ZWdyaXR5IQ==") + expect(strings.Join(p.Language, ","), "")
				},
			},
		},
		check: func(p *Parsed) string {
			return expect(p.MessageID, "inv-42@shop.example") + expect(p.To, "customer@example.net")
		},
	},
	{
		file: "rfc822.eml",
		parts: []wantPart{
			{path: "", typ: "multipart/mixed", params: map[string]string{"boundary": "fwd"}},
			{path: "1", typ: "text/plain", params: map[string]string{"charset": "us-ascii"}, body: "See below.", lines: 1},
			{
				path: "2", typ: "message/rfc822", lines: 16,
				body: "From: Carol <carol@example.net>\nTo: Bob <bob@example.net>\nSubject: Plans\nDate: Wed, 02 Jul 2025 09:00:00 -0400\nMessage-ID: <plans@example.net>\nContent-Type: multipart/alternative; boundary=alt\n\n--alt\nContent-Type: text/plain\n\nPlans attached.\n--alt\nContent-Type: text/html\n\n<b>Plans</b>\n--alt--\n",
				more: func(p *Part) string {
					m := p.Message
					return expect(p.Disposition, "inline") + expect(m.Envelope.Subject, "Plans") +
						expect(m.Envelope.MessageID, "<plans@example.net>") +
						expect(formatAddressList(m.Envelope.From), "Carol <carol@example.net>") +
						expect(m.Subject, "") // SEARCH fields are for the outer message only
				},
			},
			{
				path: "2.m", typ: "multipart/alternative", params: map[string]string{"boundary": "alt"},
				mime:  "From: Carol <carol@example.net>\nTo: Bob <bob@example.net>\nSubject: Plans\nDate: Wed, 02 Jul 2025 09:00:00 -0400\nMessage-ID: <plans@example.net>\nContent-Type: multipart/alternative; boundary=alt\n\n",
				body:  "--alt\nContent-Type: text/plain\n\nPlans attached.\n--alt\nContent-Type: text/html\n\n<b>Plans</b>\n--alt--\n",
				lines: 9,
			},
			{path: "2.m.1", typ: "text/plain", params: map[string]string{"charset": "us-ascii"}, body: "Plans attached.", lines: 1},
			{path: "2.m.2", typ: "text/html", params: map[string]string{"charset": "us-ascii"}, body: "<b>Plans</b>", lines: 1},
		},
		check: func(p *Parsed) string { return expect(p.Subject, "Fwd: Plans") },
	},
	{
		file: "encoded.eml",
		parts: []wantPart{{
			path: "", typ: "text/plain", params: map[string]string{"charset": "iso-8859-1"}, body: "Caf=E9\n", lines: 1,
		}},
		env: &Envelope{
			Date:    "Fri, 4 Jul 2025 23:59:59 +0100",
			Subject: "=?UTF-8?B?w4lsw6h2ZSDDoA==?= =?ISO-8859-1?Q?_l'=E9cole?=",
			From:    []Address{{"André Pirard", "pirard", "example.be", ""}},
			Sender:  []Address{{"André Pirard", "pirard", "example.be", ""}},
			ReplyTo: []Address{{"André Pirard", "pirard", "example.be", ""}},
			To:      []Address{{"Élodíe", "elodie", "example.fr", ""}, {"Keld Jørn Simonsen", "keld", "example.dk", ""}},
			// An unknown charset leaves the encoded word as it is.
			Cc: []Address{{"=?x-unknown?q?Mystery?=", "m", "example.com", ""}},
		},
		check: func(p *Parsed) string {
			return expect(p.Subject, "Élève à l'école") + expect(p.From, "André Pirard <pirard@example.be>") +
				expect(p.To, "Élodíe <elodie@example.fr>, Keld Jørn Simonsen <keld@example.dk>") +
				expect(p.Date.UTC().Format(time.RFC3339), "2025-07-04T22:59:59Z")
		},
	},
	{
		file: "rfc2231.eml",
		parts: []wantPart{
			{path: "", typ: "multipart/mixed", params: map[string]string{"boundary": "p"}},
			{
				path: "1", typ: "application/octet-stream", params: map[string]string{"name": "€ rates — 2025.txt"}, body: "abc", lines: 1,
				more: func(p *Part) string {
					return expect(p.Disposition, "attachment") + expectMap(p.DispositionParams, map[string]string{"filename": "café.txt"})
				},
			},
			{
				path: "2", typ: "application/octet-stream", params: map[string]string{"name": "naïve.bin"}, body: "def", lines: 1,
				more: func(p *Part) string {
					return expectMap(p.DispositionParams, map[string]string{"filename": "über.bin"})
				},
			},
		},
		check: func(p *Parsed) string { return expect(p.Date.IsZero(), true) },
	},
	{
		file:  "group.eml",
		parts: []wantPart{{path: "", typ: "text/plain", params: map[string]string{"charset": "us-ascii"}, body: "body\n", lines: 1}},
		env: &Envelope{
			Subject: "group test",
			From:    []Address{{"Sender", "sender", "example.org", ""}},
			Sender:  []Address{{"", "secretary", "example.org", ""}},
			ReplyTo: []Address{{"Sender", "sender", "example.org", ""}}, // empty Reply-To: From
			To:      []Address{{"", "undisclosed-recipients", "", ""}, {}},
			Cc: []Address{
				{"", "Team", "", ""}, {"", "ann", "example.org", ""}, {"Ben B.", "ben", "example.org", ""}, {},
				{"Solo", "solo", "example.com", ""},
			},
			Bcc: []Address{{"", "hidden", "example.org", ""}}, // a group without a name
		},
		check: func(p *Parsed) string {
			return expect(p.To, "undisclosed-recipients:;") +
				expect(p.Cc, "Team: ann@example.org, Ben B. <ben@example.org>;, Solo <solo@example.com>") +
				expect(p.Bcc, "hidden@example.org")
		},
	},
	{
		file:  "noheader.eml",
		parts: []wantPart{{path: "", typ: "text/plain", params: map[string]string{"charset": "us-ascii"}, body: "Just a body, no header fields.\n", lines: 1, mime: "\n"}},
		env:   &Envelope{},
		check: func(p *Parsed) string {
			return expect(p.Subject+p.From+p.MessageID, "") + expect(p.Date.IsZero(), true)
		},
	},
	{
		file: "malformed.eml",
		parts: []wantPart{
			{path: "", typ: "multipart/mixed", params: map[string]string{"boundary": "m"}},
			// Trailing white space after a delimiter is transport padding; "--m2" is no delimiter of "m".
			{path: "1", typ: "text/plain", params: map[string]string{"charset": "utf-8"}, body: "one\n--m2\nnot a delimiter", lines: 3},
			// An unparsable Content-Type is text/plain.
			{path: "2", typ: "text/plain", params: map[string]string{"charset": "us-ascii"}, body: "two", lines: 1},
			// So is a multipart without a boundary.
			{path: "3", typ: "text/plain", params: map[string]string{"charset": "us-ascii"}, body: "no boundary param", lines: 1},
			// A multipart whose boundary never comes gets one opaque part.
			{path: "4", typ: "multipart/related", params: map[string]string{"boundary": "never"}, body: "nothing here", lines: 1},
			{path: "4.1", typ: "text/plain", params: map[string]string{"charset": "us-ascii"}, body: "nothing here", lines: 1, mime: ""},
			// Without close delimiters, the parts end at the end.
			{path: "5", typ: "multipart/mixed", params: map[string]string{"boundary": "open"}, body: "--open\nContent-Type: text/plain\n\nunterminated\n", lines: 4},
			{path: "5.1", typ: "text/plain", params: map[string]string{"charset": "us-ascii"}, body: "unterminated\n", lines: 1},
		},
	},
	{
		file: "digest.eml",
		parts: []wantPart{
			{path: "", typ: "multipart/digest", params: map[string]string{"boundary": "d"}},
			{path: "1", typ: "message/rfc822", body: "From: a@example.org\nSubject: first\n\none", lines: 4, mime: "\n"},
			{path: "1.m", typ: "text/plain", params: map[string]string{"charset": "us-ascii"}, body: "one", lines: 1},
			{path: "2", typ: "text/plain", params: map[string]string{"charset": "us-ascii"}, body: "plain in digest", lines: 1},
		},
	},
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		lf, err := os.ReadFile("testdata/" + tc.file)
		if err != nil {
			t.Fatal(err)
		}
		for _, mode := range []string{"CRLF", "LF"} {
			t.Run(tc.file+"/"+mode, func(t *testing.T) {
				raw, nl := lf, "\n"
				if mode == "CRLF" {
					raw, nl = bytes.ReplaceAll(lf, []byte("\n"), []byte("\r\n")), "\r\n"
				}
				p, err := Parse(bytes.NewReader(raw), int64(len(raw)), DefaultLimits())
				if err != nil {
					t.Fatal(err)
				}
				if err := checkParsed(raw, p, DefaultLimits()); err != nil {
					t.Fatal(err)
				}
				if hdr := bytes.Index(raw, []byte(nl+nl)); hdr >= 0 && raw[0] != '\n' && p.HeaderSize != int64(hdr+2*len(nl)) {
					t.Errorf("header size %d, want %d", p.HeaderSize, hdr+2*len(nl))
				}
				all := partsByPath(p.Root, "", nil)
				if len(all) != len(tc.parts) {
					t.Errorf("%d parts, want %d: %v", len(all), len(tc.parts), keys(all))
				}
				for _, w := range tc.parts {
					pt := all[w.path]
					if pt == nil {
						t.Errorf("part %q missing", w.path)
						continue
					}
					if got := pt.Type + "/" + pt.Subtype; got != w.typ {
						t.Errorf("part %q: type %s, want %s", w.path, got, w.typ)
					}
					if msg := expectMap(pt.Params, w.params); msg != "" {
						t.Errorf("part %q: params: %s", w.path, msg)
					}
					if w.body != "" {
						want := strings.ReplaceAll(w.body, "\n", nl)
						if got := string(raw[pt.BodyStart:pt.End]); got != want {
							t.Errorf("part %q: body %q, want %q", w.path, got, want)
						}
						if pt.Lines != w.lines {
							t.Errorf("part %q: %d lines, want %d", w.path, pt.Lines, w.lines)
						}
					}
					if w.mime != "" || w.path == "4.1" {
						want := strings.ReplaceAll(w.mime, "\n", nl)
						if got := string(raw[pt.HeaderStart:pt.BodyStart]); got != want {
							t.Errorf("part %q: header %q, want %q", w.path, got, want)
						}
					}
					if w.more != nil {
						if msg := w.more(pt); msg != "" {
							t.Errorf("part %q: %s", w.path, msg)
						}
					}
				}
				if tc.env != nil && !reflect.DeepEqual(p.Envelope, *tc.env) {
					t.Errorf("envelope\n got %+v\nwant %+v", p.Envelope, *tc.env)
				}
				if tc.check != nil {
					if msg := tc.check(p); msg != "" {
						t.Error(msg)
					}
				}
			})
		}
	}
}

// partsByPath indexes the parts below and including p by path (see wantPart).
func partsByPath(p *Part, path string, m map[string]*Part) map[string]*Part {
	if m == nil {
		m = make(map[string]*Part)
	}
	m[path] = p
	join := func(s string) string {
		if path == "" {
			return s
		}
		return path + "." + s
	}
	for i, c := range p.Parts {
		partsByPath(c, join(strconv.Itoa(i+1)), m)
	}
	if p.Message != nil {
		partsByPath(p.Message.Root, join("m"), m)
	}
	return m
}

func keys(m map[string]*Part) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func expect[T comparable](got, want T) string {
	if got != want {
		return fmt.Sprintf("got %#v, want %#v; ", got, want)
	}
	return ""
}

func expectMap(got, want map[string]string) string {
	if (len(got) != 0 || len(want) != 0) && !reflect.DeepEqual(got, want) {
		return fmt.Sprintf("got %q, want %q; ", got, want)
	}
	return ""
}
