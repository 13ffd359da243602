package storetest

import (
	"encoding/json"

	"postel/internal/message"
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
