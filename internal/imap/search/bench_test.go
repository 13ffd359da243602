package search

import (
	"strings"
	"testing"
)

func BenchmarkMatch(b *testing.B) {
	k := and(key("UNDELETED"), or(str("FROM", "alice"), str("SUBJECT", "réunion")), date("SINCE", "2025-01-01"))
	m, c := testMessage(), testContext()
	for range b.N {
		if ok, err := Match(k, m, c); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkMatchText(b *testing.B) {
	body := strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit. ", 1000) + "Wörld"
	m, c := testMessage(), testContext()
	m.Text = func() (string, string, error) { return "Subject: x", body, nil }
	k := str("TEXT", "WÖRLD")
	b.SetBytes(int64(len(body)))
	for range b.N {
		if ok, err := Match(k, m, c); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}
