package message

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzLimits are small, so that fuzzing reaches every limit.
var fuzzLimits = Limits{MaxDepth: 3, MaxParts: 8, MaxHeaderBytes: 256}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
		f.Add(bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n")))
	}
	f.Add([]byte(nestedMultipart(5)))
	f.Add([]byte("Content-Type: message/rfc822\r\n\r\nContent-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: x\r\n\r\n--d--"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\n\n--a\n--a\n--a--\n--a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, lim := range []Limits{DefaultLimits(), fuzzLimits} {
			p, err := Parse(bytes.NewReader(data), int64(len(data)), lim)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if err := checkParsed(data, p, lim); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func FuzzParamField(f *testing.F) {
	for _, s := range []string{
		`text/plain; charset="utf-8"; format=flowed`,
		`multipart/mixed; boundary=----=_NextPart_000 (comment)`,
		`application/x; t*0*=us-ascii'en'a%20b; t*1="c"; t*2*=%41`,
		`attachment; filename="=?UTF-8?B?w6kudHh0?="; x*=iso-8859-1''%E9`,
		`inline; n*01=x; n*x=y; ("unterminated \`,
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, media bool) {
		value, params, ok := parseParamField(s, media)
		if value != strings.ToLower(value) {
			t.Errorf("value %q not lower case", value)
		}
		if ok && media && strings.Count(value, "/") != 1 {
			t.Errorf("media type %q", value)
		}
		if params != nil && len(params) == 0 {
			t.Error("empty, non-nil params")
		}
		for k, v := range params {
			if k == "" || k != strings.ToLower(k) || strings.ContainsAny(k, "*= ;") || !utf8.ValidString(v) {
				t.Errorf("parameter %q=%q", k, v)
			}
		}
		v2, p2, ok2 := parseParamField(s, media)
		if v2 != value || ok2 != ok || !reflect.DeepEqual(p2, params) {
			t.Error("not deterministic")
		}
	})
}

func FuzzAddressList(f *testing.F) {
	for _, s := range []string{
		`Alice <a@x.org>, "Doe, J" <j@y.org>, b@z.org (Bob)`,
		`Team: a@x.org, B <b@y.org>;, undisclosed-recipients:;`,
		`=?UTF-8?Q?J=C3=B6rg?= <j@x.org>, R <@relay:r@x.org>`,
		`"unterminated <u@x.org>, <>, foo, :;, a@[1.2.3.4]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		addrs := parseAddressList(s)
		if err := checkEnvelope(&Envelope{To: addrs}); err != nil {
			t.Fatal(err)
		}
		if text := formatAddressList(addrs); !utf8.ValidString(text) {
			t.Errorf("display text %q", text)
		}
	})
}
