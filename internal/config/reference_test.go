package config

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"strings"
	"testing"
)

const docsPath = "../../docs/config.md"

func TestReferenceUpToDate(t *testing.T) {
	ref := Reference()
	if *update {
		if err := os.WriteFile(docsPath, []byte(ref), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatalf("%v (run: go test ./internal/config -update)", err)
	}
	if string(got) != ref {
		t.Errorf("docs/config.md differs from Reference(); regenerate it with: go test ./internal/config -update")
	}
}

// TestReferenceRows checks that every key appears in the reference with its
// type and default.
func TestReferenceRows(t *testing.T) {
	ref := Reference()
	for _, row := range []string{
		"| `hostname` | string | the machine's host name |",
		"| `data_dir` | string | `\"/var/lib/postel\"` |",
		"| `shutdown_timeout` | duration | `\"30s\"` |",
		"| `smtp` | string | `\":25\"` | SMTP for mail",
		"| `cert_file` | string | `\"\"` |",
		"| `max_message_size` | integer | `52428800` |",
		"| `allow_plaintext_loopback` | boolean | `false` |",
		"| `throttle_base_delay` | duration | `\"250ms\"` |",
		"| `format` | string | `\"text\"` |",
		"\n## [listen]\n", "\n## [tls]\n", "\n## [smtp]\n", "\n## [auth]\n", "\n## [log]\n",
		"hostname = \"mail.example.org\"",
	} {
		if !strings.Contains(ref, row) {
			t.Errorf("Reference() lacks %q", row)
		}
	}
	// The example in the reference is a valid configuration equal to the defaults.
	_, after, ok := strings.Cut(ref, "```toml\n")
	example, _, ok2 := strings.Cut(after, "```")
	if !ok || !ok2 {
		t.Fatal("Reference() has no TOML example")
	}
	c, err := Parse([]byte(example))
	if err != nil {
		t.Fatalf("example: %v", err)
	}
	want := Default()
	want.Hostname = "mail.example.org"
	if !reflect.DeepEqual(*c, *want) {
		t.Errorf("example parses to\n%+v\nwant\n%+v", *c, *want)
	}
}

// TestDocComments checks that each field's Go doc comment is its doc tag
// followed, for a key, by its default, so the two never drift apart.
func TestDocComments(t *testing.T) {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "config.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	comments := make(map[string]string) // "Type.Field" -> comment text
	ast.Inspect(file, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok {
			return true
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			return false
		}
		for _, f := range st.Fields.List {
			for _, name := range f.Names {
				comments[ts.Name.Name+"."+name.Name] = strings.Join(strings.Fields(f.Doc.Text()), " ")
			}
		}
		return false
	})

	def := reflect.ValueOf(Default()).Elem()
	var check func(v reflect.Value)
	check = func(v reflect.Value) {
		typ := v.Type()
		for i := range typ.NumField() {
			f := typ.Field(i)
			id := typ.Name() + "." + f.Name
			key, doc := f.Tag.Get("toml"), f.Tag.Get("doc")
			if key == "" || doc == "" {
				t.Errorf("%s: missing toml or doc tag", id)
				continue
			}
			want := doc
			if f.Type.Kind() == reflect.Struct {
				check(v.Field(i))
			} else if key == "hostname" {
				want += " Default: " + hostnameDefault + "."
			} else {
				want += " Default: " + formatDefault(v.Field(i)) + "."
			}
			if got := comments[id]; got != want {
				t.Errorf("%s: doc comment\n%q\nwant (doc tag and default)\n%q", id, got, want)
			}
		}
	}
	check(def)
	if len(comments) == 0 {
		t.Fatal("no struct fields found in config.go")
	}
}
