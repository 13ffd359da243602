package search

import "testing"

// TestObjectIDKeys: EMAILID and THREADID (RFC 8474 §6) match the exact
// identifier, case included; a message without one (THREADID NIL)
// matches neither.
func TestObjectIDKeys(t *testing.T) {
	m := testMessage()
	m.EmailID, m.ThreadID = "Mabc", "Tdef"
	none := testMessage()
	for _, c := range []struct {
		op, v string
		m     *Message
		want  bool
	}{
		{"EMAILID", "Mabc", m, true},
		{"EMAILID", "MABC", m, false},
		{"EMAILID", "Tdef", m, false},
		{"THREADID", "Tdef", m, true},
		{"THREADID", "Tde", m, false},
		{"EMAILID", "Mabc", none, false},
		{"THREADID", "Tdef", none, false},
	} {
		got, err := Match(str(c.op, c.v), c.m, testContext())
		if err != nil || got != c.want {
			t.Errorf("%s %s on %q/%q = %v, %v; want %v", c.op, c.v, c.m.EmailID, c.m.ThreadID, got, err, c.want)
		}
	}
}
