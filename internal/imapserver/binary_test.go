package imapserver

import (
	"strings"
	"testing"
)

// TestBinaryExact checks that BINARY[] (RFC 3516) gives the decoded
// octets exactly, with BINARY.SIZE and partial fetches agreeing, and that
// no BODY[] response carries a NUL octet, which only a literal8 in a
// BINARY response may hold (RFC 9051 §4.3, RFC 3516 §4.3).
func TestBinaryExact(t *testing.T) {
	h := newHarness(t)
	// 1: a non-text base64 part whose content has bare LFs and a NUL.
	h.put(h.alice, "INBOX", "Subject: b64\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"+
		"Content-Transfer-Encoding: base64\r\n\r\neAp5CgB6DQo=\r\n")
	// 2: a multipart with a quoted-printable non-text part (soft break,
	// encoded LF and NUL) and a binary part holding NUL.
	h.put(h.alice, "INBOX", "Subject: mixed\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"+
		"--b\r\nContent-Type: application/x-qp\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\na=0Ab=\r\nc=00d\r\n"+
		"--b\r\nContent-Type: application/x-bin\r\nContent-Transfer-Encoding: binary\r\n\r\nx\x00y\r\n"+
		"--b--\r\n")
	// 3: a text base64 part with a bare LF: the decoded octets are exact
	// too (only text stored unencoded has its bare LFs made CRLF, RFC
	// 3516 §4.3).
	h.put(h.alice, "INBOX", "Subject: text\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\nYQpiDQpj\r\n")
	// 4: text stored with bare LFs: unencoded, its line ends become CRLF
	// in BINARY (RFC 3516 §4.3); quoted-printable, its hard line breaks
	// stand for CRLF (RFC 2045 §6.7 rule 4), "=0A" for a bare LF.
	h.put(h.alice, "INBOX", "Subject: lf\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\na\nb\n"+
		"--b\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nc=0Ad\ne=\nf\n--b--\n")
	r := h.login()
	r.cmd("SELECT INBOX")
	tests := []struct{ cmd, want string }{
		{"FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1])", "* 1 FETCH (BINARY[1] ~{8}\r\nx\ny\n\x00z\r\n BINARY.SIZE[1] 8)\r\nT OK FETCH completed\r\n"},
		{"FETCH 1 (BINARY.PEEK[1]<2.3>)", "* 1 FETCH (BINARY[1]<2> ~{3}\r\ny\n\x00)\r\nT OK FETCH completed\r\n"},
		// BINARY[] is the header without its Content-Transfer-Encoding
		// (75 octets) and the decoded body.
		{"FETCH 1 (BINARY.PEEK[]<74.6> BINARY.SIZE[])", "* 1 FETCH (BINARY[]<74> ~{6}\r\n\nx\ny\n\x00 BINARY.SIZE[] 83)\r\nT OK FETCH completed\r\n"},
		{"FETCH 2 (BINARY.PEEK[1] BINARY.SIZE[1])", "* 2 FETCH (BINARY[1] ~{6}\r\na\nbc\x00d BINARY.SIZE[1] 6)\r\nT OK FETCH completed\r\n"},
		{"FETCH 2 (BINARY.PEEK[2] BINARY.SIZE[2])", "* 2 FETCH (BINARY[2] ~{3}\r\nx\x00y BINARY.SIZE[2] 3)\r\nT OK FETCH completed\r\n"},
		{"FETCH 2 (BODY.PEEK[1])", "* 2 FETCH (BODY[1] {13}\r\na=0Ab=\r\nc=00d)\r\nT OK FETCH completed\r\n"},
		// The binary part, and the whole message holding it, cannot go
		// in a plain literal: NO, and the other items are not sent raw.
		{"FETCH 2 (BODY.PEEK[2])", "T NO [CANNOT] BODY[] and RFC822 cannot carry NUL octets, fetch BINARY[] (RFC 3516)\r\n"},
		{"FETCH 2 (BODY.PEEK[])", "T NO [CANNOT] BODY[] and RFC822 cannot carry NUL octets, fetch BINARY[] (RFC 3516)\r\n"},
		// Partial fetches that leave the NUL out are served.
		{"FETCH 2 (BODY.PEEK[]<0.10> BODY.PEEK[2]<2.5>)", "* 2 FETCH (BODY[]<0> {10}\r\nSubject: m BODY[2]<2> {1}\r\ny)\r\nT OK FETCH completed\r\n"},
		{"FETCH 2 (BODY.PEEK[2]<1.1>)", "T NO [CANNOT] BODY[] and RFC822 cannot carry NUL octets, fetch BINARY[] (RFC 3516)\r\n"},
		{"FETCH 1:2 (RFC822.SIZE BODY.PEEK[TEXT])", "* 1 FETCH (RFC822.SIZE 124 BODY[TEXT] {14}\r\neAp5CgB6DQo=\r\n)\r\nT NO [CANNOT] BODY[] and RFC822 cannot carry NUL octets, fetch BINARY[] (RFC 3516)\r\n"},
		{"FETCH 3 (BINARY.PEEK[1] BINARY.SIZE[1])", "* 3 FETCH (BINARY[1] {6}\r\na\nb\r\nc BINARY.SIZE[1] 6)\r\nT OK FETCH completed\r\n"},
		{"FETCH 3 (BINARY.PEEK[1]<1.3>)", "* 3 FETCH (BINARY[1]<1> {3}\r\n\nb\r)\r\nT OK FETCH completed\r\n"},
		{"FETCH 4 (BINARY.PEEK[1] BINARY.SIZE[1] BODY.PEEK[1])", "* 4 FETCH (BINARY[1] {4}\r\na\r\nb BINARY.SIZE[1] 4 BODY[1] {3}\r\na\nb)\r\nT OK FETCH completed\r\n"},
		{"FETCH 4 (BINARY.PEEK[2] BINARY.SIZE[2])", "* 4 FETCH (BINARY[2] {7}\r\nc\nd\r\nef BINARY.SIZE[2] 7)\r\nT OK FETCH completed\r\n"},
	}
	for _, tc := range tests {
		r.send("T " + tc.cmd)
		got := string(joinResponses(r.responses("T")))
		if got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.cmd, got, tc.want)
		}
	}
}

func joinResponses(rs [][]byte) []byte {
	var b strings.Builder
	for _, r := range rs {
		b.Write(r)
	}
	return []byte(b.String())
}

// TestEnvelopeNUL checks that an encoded word decoding to NUL never puts
// a NUL in a string (RFC 9051 §4.3: not even a literal carries it), for a
// rev1 client (the name stays RFC 2047 encoded) and after ENABLE
// UTF8=ACCEPT (the name in UTF-8, NUL as U+FFFD).
func TestEnvelopeNUL(t *testing.T) {
	h := newHarness(t)
	h.put(h.alice, "INBOX", "From: =?UTF-8?B?w4lsb2TDrWUA?= <e@example.org>\r\nSubject: =?utf-8?q?a=00b?=\r\n\r\nx\r\n")
	for _, tc := range []struct{ enable, want string }{
		{"", `* 1 FETCH (ENVELOPE (NIL "=?utf-8?q?a=00b?=" (("=?utf-8?b?w4lsb2TDrWXvv70=?=" NIL "e" "example.org"))`},
		{"ENABLE UTF8=ACCEPT", "* 1 FETCH (ENVELOPE (NIL \"=?utf-8?q?a=00b?=\" ((\"Élodíe\uFFFD\" NIL \"e\" \"example.org\"))"},
	} {
		r := h.login()
		if tc.enable != "" {
			r.cmd(tc.enable)
		}
		r.cmd("SELECT INBOX")
		r.send("T FETCH 1 ENVELOPE")
		got := string(joinResponses(r.responses("T")))
		if !strings.HasPrefix(got, tc.want) || strings.Contains(got, "\x00") {
			t.Errorf("%s:\n got %q\nwant %q...", tc.enable, got, tc.want)
		}
	}
}
