package testutil

import "testing"

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
