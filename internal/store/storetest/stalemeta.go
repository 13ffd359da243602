package storetest

import (
	"bytes"
	"encoding/json"
	"testing"

	"postel/internal/message"
	"postel/internal/store"
)

// Messages as an older parser stored them, for the stores' tests of the
// "meta" backfill: ENVELOPE without the source route (RFC 3501 §7.4.2
// addr-adl), the Cc search column with the comments inside <...>, has_nul
// unknown. StaleRouteBody has no Subject: StaleRoutePrefix brings it, so
// only a parse of what IMAP serves (prefix and body) finds it.
const (
	StaleRoutePrefix = "Subject: from the prefix\r\n"
	StaleRouteBody   = "From: Route <@route.example,@relay.example:user@host.example>\r\n" +
		"Cc: <user (comment)@ (comment) example.org>\r\nTo: bob@example.org\r\n\r\nHello\r\n"
	StaleNULBody = "From: zero@example.org\r\nSubject: nul\r\n\r\nzero\x00here\r\n"
	// StaleCc is the Cc search column the older parser stored for
	// StaleRouteBody.
	StaleCc = "user(comment)@(comment)example.org"
)

// StaleEnvelope turns StaleRouteBody's ENVELOPE as it is parsed today
// into the one the older parser stored: no source routes, and the Cc's
// comments kept in its mailbox and host.
func StaleEnvelope(envelope []byte) ([]byte, error) {
	env, err := message.UnmarshalEnvelope(envelope)
	if err != nil {
		return nil, err
	}
	for _, l := range [][]message.Address{env.From, env.Sender, env.ReplyTo} {
		l[0].Route = ""
	}
	env.Cc[0] = message.Address{Mailbox: "user(comment)", Host: "(comment)example.org"}
	return json.Marshal(env)
}

// CheckUnstale checks the metadata of StaleRoutePrefix+StaleRouteBody
// after the meta backfill (message i of a test): the source route back in
// the ENVELOPE, the Cc without its comments, the Subject the prefix
// brings, and everything else as a parse today gives it (want).
func CheckUnstale(t *testing.T, i int, got, want store.MessageMeta) {
	t.Helper()
	env, err := message.UnmarshalEnvelope(got.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	if len(env.From) != 1 || env.From[0].Route != "@route.example,@relay.example" || env.From[0].Mailbox != "user" ||
		len(env.Cc) != 1 || env.Cc[0].Mailbox != "user" || env.Cc[0].Host != "example.org" {
		t.Errorf("message %d: envelope after the backfill %s", i, got.Envelope)
	}
	if got.Cc != "user@example.org" || got.Subject != "from the prefix" || got.From != want.From ||
		!bytes.Equal(got.Structure, want.Structure) || !bytes.Equal(got.Envelope, want.Envelope) {
		t.Errorf("message %d after the backfill: Cc %q Subject %q From %q structure %s; want %q %q %q %s",
			i, got.Cc, got.Subject, got.From, got.Structure, want.Cc, want.Subject, want.From, want.Structure)
	}
}
