package imap

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"postel/internal/message"
	"postel/internal/testutil/imapresp"
)

// maxStructureNesting bounds the list nesting of an ENVELOPE or
// BODYSTRUCTURE: a multipart or message level adds one list, an
// ENVELOPE three at the bottom, and message.DefaultLimits stops at 32
// levels; twice that and slack.
const maxStructureNesting = 2*32 + 10

// structureSeeds adds the test messages of internal/imap and
// internal/message as seeds, as stored (CRLF) and as written (LF).
func structureSeeds(f *testing.F) {
	var files []string
	for _, g := range []string{"testdata/bodystructure/*.eml", "../message/testdata/*.eml"} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	if len(files) == 0 {
		f.Fatal("no seed messages")
	}
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
		f.Add(bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n")))
	}
}

// parseStored parses raw as delivery does and reads its envelope and
// structure back as FETCH does.
func parseStored(t *testing.T, raw []byte) (message.Envelope, *message.Part) {
	p, err := message.Parse(bytes.NewReader(raw), int64(len(raw)), message.DefaultLimits())
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	eb, err := p.MarshalEnvelope()
	if err != nil {
		t.Fatal(err)
	}
	env, err := message.UnmarshalEnvelope(eb)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := p.MarshalStructure()
	if err != nil {
		t.Fatal(err)
	}
	root, err := message.UnmarshalStructure(sb)
	if err != nil {
		t.Fatalf("UnmarshalStructure: %v", err)
	}
	return env, root
}

// FuzzEnvelope checks that the ENVELOPE of any message is valid IMAP
// (RFC 9051 §7.5.2 envelope), 7-bit unless UTF8=ACCEPT is on.
func FuzzEnvelope(f *testing.F) {
	structureSeeds(f)
	f.Add([]byte("From: <@a,@b:u@h>, (c) <u (c)@ (c) h>\r\nTo: g: a@b, \"q\\\"\" <c@d>;, :;\r\nSubject: =?utf-8?q?x?= \xff\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		env, _ := parseStored(t, raw)
		for _, utf8 := range []bool{false, true} {
			out := render(utf8, func(w *Writer) { w.Envelope(env) })
			v, err := imapresp.ParseAll([]byte(out), imapresp.Options{UTF8: utf8, MaxDepth: maxStructureNesting})
			if err != nil {
				t.Fatalf("ENVELOPE (UTF8 %v) does not parse: %v\n%s", utf8, err, out)
			}
			if err := checkEnvelope(v); err != nil {
				t.Fatalf("ENVELOPE (UTF8 %v): %v\n%s", utf8, err, out)
			}
		}
	})
}

// FuzzBodyStructure checks that the BODYSTRUCTURE and BODY of any
// message are valid IMAP (RFC 9051 §7.5.2 body) and match the parsed
// structure.
func FuzzBodyStructure(f *testing.F) {
	structureSeeds(f)
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: message/rfc822\r\n\r\n" +
		"Content-Type: multipart/digest; boundary=b\r\n\r\n--b\r\n\r\nSubject: x\r\n\r\n--b--\r\n--a--\r\n"))
	f.Add([]byte("Content-Type: text/plain; name*0*=utf-8''%C3%A9; name*1=\"x\\\"\"; charset=\xff\r\n" +
		"Content-Disposition: attachment; filename==?utf-8?b?w6k=?=\r\nContent-Language: en, de\r\n\r\nx"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		_, root := parseStored(t, raw)
		for _, utf8 := range []bool{false, true} {
			for _, ext := range []bool{true, false} {
				out := render(utf8, func(w *Writer) { w.BodyStructure(root, ext) })
				v, err := imapresp.ParseAll([]byte(out), imapresp.Options{UTF8: utf8, MaxDepth: maxStructureNesting})
				if err != nil {
					t.Fatalf("BODYSTRUCTURE (UTF8 %v, extended %v) does not parse: %v\n%s", utf8, ext, err, out)
				}
				if err := checkBody(v, root, ext); err != nil {
					t.Fatalf("BODYSTRUCTURE (UTF8 %v, extended %v): %v\n%s", utf8, ext, err, out)
				}
			}
		}
	})
}

// checkEnvelope checks the shape of an ENVELOPE: date, subject, six
// address lists, in-reply-to, message-id.
func checkEnvelope(v imapresp.Value) error {
	if v.Kind != imapresp.List || len(v.List) != 10 {
		return fmt.Errorf("not a list of 10: %s", v)
	}
	for _, i := range []int{0, 1, 8, 9} {
		if !v.List[i].IsString() {
			return fmt.Errorf("field %d not an nstring: %s", i, v.List[i])
		}
	}
	for i := 2; i < 8; i++ {
		l := v.List[i]
		if l.Kind == imapresp.Nil {
			continue
		}
		if l.Kind != imapresp.List || len(l.List) == 0 {
			return fmt.Errorf("address list %d: %s", i, l)
		}
		for _, a := range l.List {
			if a.Kind != imapresp.List || len(a.List) != 4 {
				return fmt.Errorf("address %s", a)
			}
			for _, f := range a.List {
				if !f.IsString() {
					return fmt.Errorf("address field %s", f)
				}
			}
		}
	}
	return nil
}

// checkBody checks a body against the part it was written from.
func checkBody(v imapresp.Value, p *message.Part, ext bool) error {
	if v.Kind != imapresp.List {
		return fmt.Errorf("body not a list: %s", v)
	}
	l := v.List
	if p.Type == "multipart" {
		if len(l) != len(p.Parts)+1+map[bool]int{true: 4, false: 0}[ext] {
			return fmt.Errorf("multipart with %d parts: %d fields", len(p.Parts), len(l))
		}
		for i, c := range p.Parts {
			if err := checkBody(l[i], c, ext); err != nil {
				return err
			}
		}
		if l[len(p.Parts)].Kind != imapresp.String {
			return fmt.Errorf("subtype %s", l[len(p.Parts)])
		}
		return nil
	}
	n := 7
	msg := p.Type == "message" && (p.Subtype == "rfc822" || p.Subtype == "global")
	switch {
	case msg:
		n = 10
	case p.Type == "text":
		n = 8
	}
	if ext {
		n += 4
	}
	if len(l) != n {
		return fmt.Errorf("%s/%s: %d fields, want %d: %s", p.Type, p.Subtype, len(l), n, v)
	}
	if l[0].Kind != imapresp.String || l[1].Kind != imapresp.String {
		return fmt.Errorf("type %s/%s", l[0], l[1])
	}
	if size, ok := l[6].Number(); !ok || size != p.End-p.BodyStart {
		return fmt.Errorf("size %s, want %d", l[6], p.End-p.BodyStart)
	}
	if msg {
		if err := checkEnvelope(l[7]); err != nil {
			return err
		}
		return checkBody(l[8], p.Message.Root, ext)
	}
	return nil
}
