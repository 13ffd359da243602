package pop3server

import (
	"strings"
	"testing"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		line, keyword, args string
		ok                  bool
	}{
		{"STAT", "STAT", "", true},
		{"stat", "STAT", "", true},
		{"ReTr 1", "RETR", "1", true},
		{"TOP 1 10", "TOP", "1 10", true},
		{"PASS  two  spaces ", "PASS", " two  spaces ", true}, // the rest of the line, as it is
		{"AUTH PLAIN =", "AUTH", "PLAIN =", true},
		{"UTF8", "UTF8", "", true},
		{"XTOOLONGKW", "", "", false},
		{"", "", "", false},
		{" STAT", "", "", false},
		{"RE$R 1", "", "", false},
		{"RETR\x001", "", "", false},
		{"USER a\x00b", "", "", false},
		{"STAT\t", "", "", false},
		{"STÄT", "", "", false},
	}
	for _, tc := range tests {
		kw, args, err := parseCommand(tc.line)
		if (err == nil) != tc.ok || kw != tc.keyword || args != tc.args {
			t.Errorf("parseCommand(%q) = %q, %q, %v; want %q, %q, ok %v", tc.line, kw, args, err, tc.keyword, tc.args, tc.ok)
		}
	}
}

func TestParseNumber(t *testing.T) {
	tests := []struct {
		s  string
		n  int64
		ok bool
	}{
		{"1", 1, true},
		{"0", 0, true},
		{"007", 7, true},
		{"4294967295", 4294967295, true},
		{"4294967296", 0, false},
		{"99999999999", 0, false},
		{"", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"1a", 0, false},
		{" 1", 0, false},
		{"١", 0, false}, // an Arabic-Indic digit
	}
	for _, tc := range tests {
		n, ok := parseNumber(tc.s)
		if n != tc.n || ok != tc.ok {
			t.Errorf("parseNumber(%q) = %d, %v; want %d, %v", tc.s, n, ok, tc.n, tc.ok)
		}
	}
}

// FuzzParseCommand checks that parseCommand takes any line apart without
// losing anything: keyword and arguments put together give the line back.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"STAT", "retr 1", "PASS a b ", "AUTH PLAIN =", "RE$R", "", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		kw, args, err := parseCommand(line)
		if err != nil {
			if kw != "" || args != "" {
				t.Fatalf("error %v with results %q %q", err, kw, args)
			}
			return
		}
		if kw == "" || len(kw) > 8 || kw != strings.ToUpper(kw) || strings.ContainsAny(args, "\x00") {
			t.Fatalf("parseCommand(%q) = %q, %q", line, kw, args)
		}
		rebuilt := kw
		if len(line) > len(kw) {
			rebuilt += " " + args
		}
		if !strings.EqualFold(rebuilt, line) {
			t.Fatalf("parseCommand(%q) = %q, %q: does not give the line back", line, kw, args)
		}
	})
}
