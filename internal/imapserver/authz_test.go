package imapserver

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/xdg-go/scram"
)

// TestAuthenticateSCRAMAuthzid: SCRAM-SHA-256 with an authorization
// identity alice may not act as (bob's) is refused once her proof is
// verified, with NO [AUTHORIZATIONFAILED] (RFC 5530 §3), as PLAIN is
// (conformance/base/authenticate-authzid.txt); with a wrong password it
// is NO [AUTHENTICATIONFAILED], as without an authzid.
func TestAuthenticateSCRAMAuthzid(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct{ pass, want string }{
		{alicePass, "a NO [AUTHORIZATIONFAILED] Not authorized to act as that identity"},
		{"not alice's password", "a NO [AUTHENTICATIONFAILED] Invalid credentials"},
	} {
		r := h.dial(h.addr)
		client, err := scram.SHA256.NewClient("alice@example.org", tc.pass, "bob@example.org")
		if err != nil {
			t.Fatal(err)
		}
		conv := client.NewConversation()
		first, _ := conv.Step("")
		r.send("a AUTHENTICATE SCRAM-SHA-256 " + base64.StdEncoding.EncodeToString([]byte(first)))
		l := r.line()
		if !strings.HasPrefix(l, "+ ") {
			t.Fatalf("after client-first: %q", l)
		}
		challenge, err := base64.StdEncoding.DecodeString(l[2:])
		if err != nil {
			t.Fatal(err)
		}
		final, err := conv.Step(string(challenge))
		if err != nil {
			t.Fatal(err)
		}
		r.send(base64.StdEncoding.EncodeToString([]byte(final)))
		if l := r.line(); l != tc.want {
			t.Errorf("password %q: got %q, want %q", tc.pass, l, tc.want)
		}
	}
}
