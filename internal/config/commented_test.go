package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestEncodeCommented(t *testing.T) {
	full := fullConfig()
	for _, c := range []*Config{Default(), &full, Dev("/tmp/postel")} {
		var b strings.Builder
		notes := map[string]string{"acme.enabled": "Chosen because of a test.", "listen": "Ports, chosen by a test."}
		if err := c.EncodeCommented(&b, "A header\nin two lines", notes); err != nil {
			t.Fatal(err)
		}
		text := b.String()
		back, err := Parse([]byte(text))
		if err != nil {
			t.Fatalf("Parse(EncodeCommented()) = %v\n%s", err, text)
		}
		if !reflect.DeepEqual(*back, *c) {
			t.Errorf("round trip:\n%+v\nwant\n%+v\nTOML:\n%s", *back, *c, text)
		}
		if !strings.HasPrefix(text, "# A header\n# in two lines\n") {
			t.Errorf("no header:\n%s", text)
		}
		// Every key and table is there, right after its documentation.
		for table, keys := range knownKeys() {
			for _, k := range keys {
				line := k + " = "
				if _, isTable := knownKeys()[k]; isTable && table == "" {
					line = "[" + k + "]"
				}
				i := strings.Index(text, "\n"+line)
				if table != "" {
					start := strings.Index(text, "\n["+table+"]\n")
					if start < 0 {
						t.Fatalf("no table [%s]", table)
					}
					i = strings.Index(text[start:], "\n"+line)
					if i >= 0 {
						i += start
					}
				}
				if i < 0 {
					t.Errorf("key %s.%s missing", table, k)
					continue
				}
				key := k
				if table != "" {
					key = table + "." + k
				}
				var block strings.Builder
				writeComment(&block, docOf(t, key))
				j := strings.LastIndex(text[:i+1], block.String())
				// Between the documentation and the key: at most the
				// default and a note.
				if between := text[j+block.Len() : i+1]; j < 0 || strings.Count(between, "\n") > 2 {
					t.Errorf("%s: not preceded by its documentation %q", key, block.String())
				}
			}
		}
		if !strings.Contains(text, "# Chosen because of a test.\nenabled = ") || !strings.Contains(text, "# Ports, chosen by a test.\n[listen]") {
			t.Errorf("notes not placed right before their keys:\n%s", text)
		}
	}
	// The default is named where the value differs, and only there.
	var b strings.Builder
	c := Default()
	c.SMTP.MaxRecipients = 250
	if err := c.EncodeCommented(&b, "", nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "# Default: 100.\nmax_recipients = 250\n") {
		t.Errorf("changed value without its default:\n%s", b.String())
	}
	if n := strings.Count(b.String(), "# Default:"); n != 1 {
		t.Errorf("%d defaults named, want 1:\n%s", n, b.String())
	}
	// A note for a key that does not exist is a mistake of the caller.
	if err := Default().EncodeCommented(&b, "", map[string]string{"acme.enable": "x"}); err == nil || !strings.Contains(err.Error(), `"acme.enable"`) {
		t.Errorf("note for an unknown key: %v", err)
	}
}

// docOf returns the doc tag of a key ("smtp.max_errors", "listen").
func docOf(t *testing.T, key string) string {
	t.Helper()
	typ := reflect.TypeFor[Config]()
	var doc string
	for part := range strings.SplitSeq(key, ".") {
		found := false
		for i := range typ.NumField() {
			if f := typ.Field(i); tomlKey(f) == part {
				doc, typ, found = f.Tag.Get("doc"), f.Type, true
				break
			}
		}
		if !found {
			t.Fatalf("no key %s", key)
		}
	}
	return doc
}
