package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// hostnameDefault stands for the machine-dependent default of hostname in
// the generated reference.
const hostnameDefault = "the machine's host name"

// Reference returns the configuration reference, docs/config.md, generated
// from the doc tags of Config and the values of Default: every key with its
// type, default and description, one table per section.
func Reference() string {
	var b strings.Builder
	b.WriteString(`# Postel configuration reference

<!-- Generated from internal/config by Reference(); do not edit.
     Regenerate with: go test ./internal/config -update -->

Postel reads one TOML file: the one named on the command line, else
./postel.toml when it exists, else /etc/postel/postel.toml. Every key is
optional; a key left out takes the default below. Unknown keys are an error
that names the known key probably meant, so a misspelled key never goes
unnoticed. ` + "`postel init DOMAIN`" + ` writes a complete configuration to
start from, every key with its documentation. ` + "`postel config check`" + `
prints the effective configuration once it has also checked what the values
name on this machine: that data_dir exists and this user can write to it,
that hostname is fully qualified, and that the certificate files belong
together and cover hostname; ` + "`postel serve`" + ` refuses to start without
that.

Durations are strings of numbers with units, as in "250ms", "30s", "5m" or
"1h30m" (units: ns, us, ms, s, m, h). Sizes are integers in bytes.

`)
	def := Default()
	top := reflect.ValueOf(def).Elem()
	typ := top.Type()

	b.WriteString("## Top level\n\n")
	writeTableHeader(&b)
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Type.Kind() != reflect.Struct {
			writeRow(&b, f, top.Field(i))
		}
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Type.Kind() != reflect.Struct {
			continue
		}
		fmt.Fprintf(&b, "\n## [%s]\n\n%s\n\n", tomlKey(f), f.Tag.Get("doc"))
		writeTableHeader(&b)
		sv := top.Field(i)
		for j := range f.Type.NumField() {
			writeRow(&b, f.Type.Field(j), sv.Field(j))
		}
	}

	example := *def
	example.Hostname = "mail.example.org"
	var ex strings.Builder
	if err := example.Encode(&ex); err != nil {
		panic("config: encoding the defaults: " + err.Error()) // A bug in Config, caught by the tests.
	}
	b.WriteString("\n## Example\n\nThe defaults, written out in full (with a made-up host name):\n\n```toml\n")
	b.WriteString(ex.String())
	b.WriteString("```\n")
	return b.String()
}

func writeTableHeader(b *strings.Builder) {
	b.WriteString("| Key | Type | Default | Description |\n|---|---|---|---|\n")
}

func writeRow(b *strings.Builder, f reflect.StructField, v reflect.Value) {
	def := "`" + formatDefault(v) + "`"
	if tomlKey(f) == "hostname" {
		def = hostnameDefault
	}
	doc := strings.ReplaceAll(f.Tag.Get("doc"), "|", `\|`)
	fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", tomlKey(f), typeName(f.Type), def, doc)
}

// tomlKey returns the key of a field as written in the file.
func tomlKey(f reflect.StructField) string {
	return f.Tag.Get("toml")
}

var durationType = reflect.TypeFor[Duration]()

// typeName names the TOML type of a field.
func typeName(t reflect.Type) string {
	if t == durationType {
		return "duration"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int64:
		return "integer"
	case reflect.Slice:
		return "array of " + typeName(t.Elem()) + "s"
	}
	panic("config: no TOML type name for " + t.String()) // A new field type needs a name here; the tests catch it.
}

// formatDefault writes a value as it would appear in TOML.
func formatDefault(v reflect.Value) string {
	if d, ok := v.Interface().(Duration); ok {
		return strconv.Quote(d.String())
	}
	switch v.Kind() {
	case reflect.String:
		return strconv.Quote(v.String())
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Slice:
		items := make([]string, v.Len())
		for i := range items {
			items[i] = formatDefault(v.Index(i))
		}
		return "[" + strings.Join(items, ", ") + "]"
	}
	panic("config: cannot format " + v.Type().String())
}
