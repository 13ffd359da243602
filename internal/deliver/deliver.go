package deliver

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"postel/internal/message"
	"postel/internal/store"
)

// MaxSearchText bounds the text of one message kept for full-text search.
const MaxSearchText = 1 << 20

// Incoming is one accepted message and where it goes.
type Incoming struct {
	Spool  store.Spool // the body exactly as received, already Finish()ed
	Prefix []byte      // header fields the server adds, served before the body
	Local  []store.Account
	Remote []store.QueueRcpt // with their DSN parameters (RFC 3461 §4)
	// Envelope of queued mail.
	From       string // reverse-path, "" for the null sender
	AccountID  int64  // submitting account, 0 for none
	DSNRet     string // RFC 3461 §4.3 RET: FULL, HDRS or ""
	DSNEnvID   string // RFC 3461 §4.4 ENVID
	RequireTLS bool   // RFC 8689
	SMTPUTF8   bool   // RFC 6531
	Body8Bit   bool   // RFC 6152 BODY=8BITMIME
}

// Deliver parses the message once (the prefix followed by the spooled body,
// as the store will serve it, so that every offset is relative to the served
// message), then stores it in one transaction: into the INBOX of each local
// account and, for remote recipients, into the outbound queue. When it
// returns nil the message is durable. The caller still owns the spool and
// discards it on error.
func Deliver(ctx context.Context, st store.Store, in Incoming) ([]store.Delivered, error) {
	if len(in.Local) == 0 && len(in.Remote) == 0 {
		return nil, fmt.Errorf("%w: delivery without recipients", store.ErrInvalid)
	}
	body, err := in.Spool.Open()
	if err != nil {
		return nil, fmt.Errorf("deliver: reading spool: %w", err)
	}
	r := store.NewMessageReader(in.Prefix, body)
	defer r.Close()
	size := r.Size()
	parsed, err := message.Parse(r, size, message.DefaultLimits())
	if err != nil {
		return nil, fmt.Errorf("deliver: parsing message: %w", err)
	}
	meta, err := parsed.Meta()
	if err != nil {
		return nil, fmt.Errorf("deliver: message metadata: %w", err)
	}
	// The searchable text feeds the store's full-text index (IMAP SEARCH
	// TEXT and BODY).
	if meta.HeadersText, meta.BodyText, err = message.ExtractText(r, parsed.Root, MaxSearchText); err != nil {
		return nil, fmt.Errorf("deliver: message text: %w", err)
	}

	d := &store.Delivery{Spool: in.Spool, Prefix: in.Prefix, Meta: meta}
	now := time.Now()
	for _, a := range in.Local {
		d.Targets = append(d.Targets, store.Target{AccountID: a.ID, Mailbox: "INBOX", InternalDate: now})
	}
	if len(in.Remote) > 0 {
		rcpts := make([]store.QueueRcpt, len(in.Remote))
		for i, rc := range in.Remote {
			if rc.Status == "" {
				rc.Status = "pending"
			}
			rc.LastChange = now
			rcpts[i] = rc
		}
		d.Queue = &store.QueueEntry{
			AccountID:   in.AccountID,
			From:        in.From,
			Recipients:  rcpts,
			DSNRet:      in.DSNRet,
			DSNEnvID:    in.DSNEnvID,
			RequireTLS:  in.RequireTLS,
			SMTPUTF8:    in.SMTPUTF8,
			Body8Bit:    in.Body8Bit,
			Created:     now,
			NextAttempt: now,
			Prefix:      withoutReturnPath(in.Prefix),
		}
	}
	return st.Deliver(ctx, d)
}

// withoutReturnPath drops a leading Return-Path field: only the final
// delivery adds one (RFC 5321 §4.4), so mail relayed onward must not carry
// ours.
func withoutReturnPath(prefix []byte) []byte {
	if !bytes.HasPrefix(bytes.ToLower(prefix[:min(len(prefix), 12)]), []byte("return-path:")) {
		return prefix
	}
	rest := prefix
	for {
		i := bytes.Index(rest, []byte("\r\n"))
		if i < 0 {
			return nil
		}
		rest = rest[i+2:]
		// Continuation lines (RFC 5322 §2.2.3) belong to the field.
		if len(rest) == 0 || (rest[0] != ' ' && rest[0] != '\t') {
			return rest
		}
	}
}
