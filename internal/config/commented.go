package config

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// commentWidth is the width comments are wrapped to.
const commentWidth = 78

// EncodeCommented writes c as Encode does, every key and table preceded by
// its documentation as comments (the doc tags Reference prints), by its
// default when c's value differs from it, and by notes[key] when given:
// why the value was chosen (keys as written in the file, "acme.enabled";
// a table's note under its name, "acme"). header, when not empty, opens
// the file as a comment. Parse reads the result back to a Config equal to c.
// A note for a key Config does not have is an error, so that notes cannot
// go stale unseen.
func (c *Config) EncodeCommented(w io.Writer, header string, notes map[string]string) error {
	docs := keyDocs(c)
	for k := range notes {
		if _, ok := docs[k]; !ok {
			return fmt.Errorf("config: note for unknown key %q", k)
		}
	}
	var enc bytes.Buffer
	if err := c.Encode(&enc); err != nil {
		return err
	}
	var b strings.Builder
	if header != "" {
		writeComment(&b, header)
	}
	table := ""
	sc := bufio.NewScanner(&enc)
	sc.Buffer(make([]byte, 64<<10), MaxFileSize)
	for sc.Scan() {
		line := sc.Text()
		key := ""
		switch {
		case strings.TrimSpace(line) == "":
			continue
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			table = strings.Trim(line, "[]")
			key = table
			b.WriteString("\n")
		default:
			name, _, ok := strings.Cut(line, " = ")
			if !ok {
				return fmt.Errorf("config: unexpected line in the encoding: %q", line)
			}
			key = name
			if table != "" {
				key = table + "." + name
			}
		}
		d, ok := docs[key]
		if !ok {
			return fmt.Errorf("config: no documentation for key %q", key)
		}
		b.WriteString("\n")
		writeComment(&b, d.doc)
		if d.def != "" {
			writeComment(&b, "Default: "+d.def+".")
		}
		if n := notes[key]; n != "" {
			writeComment(&b, n)
		}
		b.WriteString(line + "\n")
	}
	if err := sc.Err(); err != nil {
		return err
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// keyDoc is what EncodeCommented writes above a key.
type keyDoc struct {
	doc string
	def string // the default in TOML syntax when the value differs from it, else ""
}

// keyDocs returns the documentation of every key and table of c, by key
// as written in the file.
func keyDocs(c *Config) map[string]keyDoc {
	out := map[string]keyDoc{}
	def := reflect.ValueOf(Default()).Elem()
	cur := reflect.ValueOf(c).Elem()
	var walk func(prefix string, t reflect.Type, dv, cv reflect.Value)
	walk = func(prefix string, t reflect.Type, dv, cv reflect.Value) {
		for i := range t.NumField() {
			f := t.Field(i)
			key := prefix + tomlKey(f)
			d := keyDoc{doc: f.Tag.Get("doc")}
			if f.Type.Kind() == reflect.Struct && f.Type != durationType {
				out[key] = d
				walk(key+".", f.Type, dv.Field(i), cv.Field(i))
				continue
			}
			if key != "hostname" && !reflect.DeepEqual(dv.Field(i).Interface(), cv.Field(i).Interface()) {
				d.def = formatDefault(dv.Field(i))
			}
			out[key] = d
		}
	}
	walk("", def.Type(), def, cur)
	return out
}

// writeComment writes text as "# " lines wrapped at commentWidth; each
// line of text starts a new paragraph line.
func writeComment(b *strings.Builder, text string) {
	for para := range strings.SplitSeq(text, "\n") {
		line := "#"
		for _, word := range strings.Fields(para) {
			if len(line)+1+len(word) > commentWidth && line != "#" {
				b.WriteString(line + "\n")
				line = "#"
			}
			line += " " + word
		}
		b.WriteString(line + "\n")
	}
}
