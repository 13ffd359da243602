package imapresp

import "testing"

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		utf8 bool
		ok   bool
		want string // String() of the value
	}{
		{`(ENVELOPE (NIL "a \"b\" \\" (("n" NIL "m" "h")(NIL NIL NIL NIL))))`, false, true, `(ENVELOPE (NIL "a \"b\" \\" (("n" NIL "m" "h") (NIL NIL NIL NIL))))`},
		{"(BODY[1.MIME]<0> {3}\r\na\r\n BINARY[2] ~{2}\r\n\x00x FLAGS (\\Seen))", false, true, `(BODY[1.MIME]<0> "a\r\n" BINARY[2] "\x00x" FLAGS (\Seen))`},
		{"(BODY[HEADER.FIELDS (A B)] NIL)", false, true, "(BODY[HEADER.FIELDS (A B)] NIL)"},
		{"(((\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 1 1)(\"TEXT\" \"HTML\" NIL NIL NIL \"7BIT\" 1 1) \"ALTERNATIVE\"))", false, true, ""},
		{"{2}\r\na\x00", false, false, ""},        // NUL only in a literal8
		{`"für"`, false, false, ""},               // 8-bit only in UTF8 mode
		{`"für"`, true, true, `"für"`},            //
		{`"f\xfcr"`, true, false, ""},             // and then valid UTF-8
		{`(a  b)`, false, false, ""},              // one SP
		{`(a "b")("c")`, false, false, ""},        // two values
		{`(a`, false, false, ""},                  //
		{`"a\b"`, false, false, ""},               // bad quoted-pair
		{"{5}\r\nab", false, false, ""},           // short literal
		{"(((((((((x)))))))))", false, false, ""}, // over MaxDepth 8 below
	} {
		v, err := ParseAll([]byte(tc.in), Options{UTF8: tc.utf8, MaxDepth: 8})
		if (err == nil) != tc.ok {
			t.Errorf("%q: error %v, want ok %v", tc.in, err, tc.ok)
			continue
		}
		if tc.ok && tc.want != "" && v.String() != tc.want {
			t.Errorf("%q: got %s, want %s", tc.in, v, tc.want)
		}
	}
}
