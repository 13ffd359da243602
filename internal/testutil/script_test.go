package testutil

import (
	"reflect"
	"testing"
)

func TestVarsMatch(t *testing.T) {
	tests := []struct {
		want, got string
		ok        bool
	}{
		{"* OK [UIDVALIDITY ${UV}] x", "* OK [UIDVALIDITY 123] x", true},
		{"* OK [UIDVALIDITY ${UV}] x", "* OK [UIDVALIDITY 124] x", false}, // bound to 123 above
		{"T OK ${*}", "T OK anything [at] all", true},
		{"T OK done", "T OK done.", false},
		{"* 1 FETCH (X ${A} Y ${A})", "* 1 FETCH (X 5 Y 5)", true},
		{"* 1 FETCH (X ${B} Y ${B})", "* 1 FETCH (X 5 Y 6)", false},
		{"1 ${UV}.1", "1 123.1", true},
	}
	vars := Vars{}
	for _, tc := range tests {
		if got := vars.Match(tc.want, tc.got); got != tc.ok {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.want, tc.got, got, tc.ok)
		}
	}
	if got := vars.Substitute("SELECT ${UV} ${X}"); got != "SELECT 123 ${X}" {
		t.Errorf("Substitute = %q", got)
	}
	if got := CRLF("a\nb\r\nc\n"); got != "a\r\nb\r\nc\r\n" {
		t.Errorf("CRLF = %q", got)
	}
}

func TestVarsMatchAnyOrder(t *testing.T) {
	vars := Vars{}
	wants := []string{"* 1 FETCH (UID ${U1} FLAGS ())", "* 2 FETCH (UID ${U2} FLAGS (\\Seen))"}
	if !vars.MatchAnyOrder(wants, []string{"* 2 FETCH (UID 7 FLAGS (\\Seen))", "* 1 FETCH (UID 5 FLAGS ())"}) {
		t.Fatal("reordered lines not matched")
	}
	if vars["U1"] != "5" || vars["U2"] != "7" {
		t.Errorf("bound %v", vars)
	}
	// A placeholder bound by a first try that fails later is not kept:
	// ${A} must end up as the value of the pairing that matched.
	vars = Vars{}
	if !vars.MatchAnyOrder([]string{"x ${A}", "x 1"}, []string{"x 1", "x 2"}) || vars["A"] != "2" {
		t.Errorf("backtracking: bound %v", vars)
	}
	for _, gots := range [][]string{
		{"* 1 FETCH (UID 5 FLAGS ())"},                                          // one missing
		{"* 1 FETCH (UID 5 FLAGS ())", "* 1 FETCH (UID 5 FLAGS ())"},            // one twice
		{"* 1 FETCH (UID 5 FLAGS ())", "* 2 FETCH (UID 7 FLAGS (\\Seen))", "x"}, // one extra
	} {
		if (Vars{}).MatchAnyOrder(wants, gots) {
			t.Errorf("MatchAnyOrder(%q) matched", gots)
		}
	}
	vars = Vars{"U1": "9"}
	if vars.MatchAnyOrder(wants, []string{"* 2 FETCH (UID 7 FLAGS (\\Seen))", "* 1 FETCH (UID 5 FLAGS ())"}) || vars["U2"] != "" {
		t.Errorf("a bound placeholder was ignored, or a failed match bound %v", vars)
	}
}

func TestParseScript(t *testing.T) {
	steps, err := ParseScript("# c\n@put alice INBOX x.eml\nC: a NOOP\nS1: * OK hi\nC:\n@any-order\nS2: * 1 X\nS2: * 2 X\n@end\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []Step{
		{Line: 2, Kind: Directive, Args: []string{"put", "alice", "INBOX", "x.eml"}},
		{Line: 3, Kind: Send, Text: "a NOOP"},
		{Line: 4, Kind: Expect, Session: "1", Text: "* OK hi"},
		{Line: 5, Kind: Send},
		{Line: 6, Kind: ExpectAnyOrder, Session: "2", Block: []Step{
			{Line: 7, Kind: Expect, Session: "2", Text: "* 1 X"},
			{Line: 8, Kind: Expect, Session: "2", Text: "* 2 X"},
		}},
	}
	if !reflect.DeepEqual(steps, want) {
		t.Errorf("ParseScript:\n got %+v\nwant %+v", steps, want)
	}
	for _, bad := range []string{
		"X: a\n",
		"C:a\n",
		"@any-order\nS: a\n",
		"@any-order\nS1: a\nS2: b\n@end\n",
		"@any-order\nC: a\n@end\n",
		"@end\n",
		"@any-order\n@put x\n@end\n",
	} {
		if _, err := ParseScript(bad); err == nil {
			t.Errorf("ParseScript(%q) accepted", bad)
		}
	}
}
