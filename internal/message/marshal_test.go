package message

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestMeta(t *testing.T) {
	raw, err := os.ReadFile("testdata/plain.eml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(bytes.NewReader(raw), int64(len(raw)), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	m, err := p.Meta()
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Lunch on Friday?" || m.From != "Alice Example <alice@example.org>" ||
		m.To != "bob@example.net, Carol, C. <carol@example.net>" || m.Cc != "Dave <dave@example.com>" || m.Bcc != "" ||
		m.MessageID != "20250701.1@example.org" || !m.Date.Equal(p.Date) || p.Date.IsZero() {
		t.Errorf("meta %+v", m)
	}
	env, err := UnmarshalEnvelope(m.Envelope)
	if err != nil || !reflect.DeepEqual(env, p.Envelope) {
		t.Errorf("envelope from meta: %+v, %v", env, err)
	}
	root, err := UnmarshalStructure(m.Structure)
	if err != nil || !reflect.DeepEqual(root, p.Root) {
		t.Errorf("structure from meta: %+v, %v", root, err)
	}
	// The serialized forms are stored: their format must not drift.
	wantEnv := `{"date":"Tue, 1 Jul 2025 10:52:30 +0200 (CEST)","subj":"Lunch on Friday?",` +
		`"from":[{"n":"Alice Example","m":"alice","h":"example.org"}],"sender":[{"n":"Alice Example","m":"alice","h":"example.org"}],` +
		`"rt":[{"n":"Alice Example","m":"alice","h":"example.org"}],"to":[{"m":"bob","h":"example.net"},{"n":"Carol, C.","m":"carol","h":"example.net"}],` +
		`"cc":[{"n":"Dave","m":"dave","h":"example.com"}],"irt":"<prev.99@example.net>","mid":"<20250701.1@example.org>"}`
	if string(m.Envelope) != wantEnv {
		t.Errorf("envelope\n got %s\nwant %s", m.Envelope, wantEnv)
	}
	wantStruct := `{"t":"text","s":"plain","p":{"charset":"utf-8","format":"flowed"},"enc":"8BIT","hs":0,"bs":596,"e":646,"l":5}`
	if string(m.Structure) != wantStruct {
		t.Errorf("structure\n got %s\nwant %s", m.Structure, wantStruct)
	}
}

func TestRoundTripTestdata(t *testing.T) {
	files, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if !strings.HasSuffix(f.Name(), ".eml") {
			continue
		}
		raw, err := os.ReadFile("testdata/" + f.Name())
		if err != nil {
			t.Fatal(err)
		}
		p, err := Parse(bytes.NewReader(raw), int64(len(raw)), DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		if err := checkRoundTrip(p); err != nil {
			t.Errorf("%s: %v", f.Name(), err)
		}
		n++
	}
	if n < 9 {
		t.Errorf("only %d test messages", n)
	}
}

func TestUnmarshalErrors(t *testing.T) {
	deep := strings.Repeat(`{"t":"multipart","s":"mixed","enc":"7BIT","hs":0,"bs":0,"e":0,"parts":[`, maxStoredDepth+2) +
		`{"t":"text","s":"plain","enc":"7BIT","hs":0,"bs":0,"e":0}` + strings.Repeat("]}", maxStoredDepth+2)
	structures := map[string]string{
		"empty":                    ``,
		"syntax":                   `{"t":`,
		"null":                     `null`,
		"wrong type":               `{"t":1}`,
		"no type":                  `{"s":"plain","hs":0,"bs":0,"e":0}`,
		"unordered offsets":        `{"t":"text","s":"plain","hs":5,"bs":2,"e":9}`,
		"negative offset":          `{"t":"text","s":"plain","hs":-1,"bs":2,"e":9}`,
		"multipart without parts":  `{"t":"multipart","s":"mixed","hs":0,"bs":2,"e":9}`,
		"null part":                `{"t":"multipart","s":"mixed","hs":0,"bs":2,"e":9,"parts":[null]}`,
		"child outside its parent": `{"t":"multipart","s":"mixed","hs":0,"bs":2,"e":9,"parts":[{"t":"text","s":"plain","hs":2,"bs":3,"e":10}]}`,
		"children out of order": `{"t":"multipart","s":"mixed","hs":0,"bs":2,"e":9,"parts":[` +
			`{"t":"text","s":"plain","hs":5,"bs":6,"e":7},{"t":"text","s":"plain","hs":2,"bs":3,"e":4}]}`,
		"message without message": `{"t":"message","s":"rfc822","hs":0,"bs":2,"e":9}`,
		"negative lines":          `{"t":"text","s":"plain","hs":0,"bs":2,"e":9,"l":-1}`,
		"message not spanning":    `{"t":"message","s":"rfc822","hs":0,"bs":2,"e":9,"msg":{"root":{"t":"text","s":"plain","hs":3,"bs":3,"e":9}}}`,
		"too deep":                deep,
	}
	for name, s := range structures {
		if p, err := UnmarshalStructure([]byte(s)); err == nil {
			t.Errorf("%s: UnmarshalStructure(%.60s) = %+v, want an error", name, s, p)
		}
	}
	for _, s := range []string{``, `[`, `{"from":"x"}`, `{"date":1}`} {
		if env, err := UnmarshalEnvelope([]byte(s)); err == nil {
			t.Errorf("UnmarshalEnvelope(%s) = %+v, want an error", s, env)
		}
	}
	if _, err := (&Parsed{}).MarshalStructure(); err == nil {
		t.Error("MarshalStructure without root: no error")
	}
	if _, err := (&Parsed{}).Meta(); err == nil {
		t.Error("Meta without root: no error")
	}
}
