package deliver

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"postel/internal/message"
	"postel/internal/store"
)

// MaxSearchText bounds the text of one message kept for full-text search.
const MaxSearchText = message.MaxSearchText

// Incoming is one accepted message and where it goes.
type Incoming struct {
	Spool  store.Spool // the body exactly as received, already Finish()ed
	Prefix []byte      // header fields the server adds, served before the body
	Local  []store.Account
	// Filing overrides, per account ID, where a local account's copy goes
	// and adds header fields to that copy only (the junk verdict); an
	// account without an entry gets the message in its INBOX.
	Filing map[int64]Filing
	Remote []store.QueueRcpt // with their DSN parameters (RFC 3461 §4)
	// QueueHeader is prepended to the queued copy only (an ARC set sealing
	// what this server saw, RFC 8617).
	QueueHeader []byte
	// Envelope of queued mail.
	From       string // reverse-path, "" for the null sender
	AccountID  int64  // submitting account, 0 for none
	DSNRet     string // RFC 3461 §4.3 RET: FULL, HDRS or ""
	DSNEnvID   string // RFC 3461 §4.4 ENVID
	RequireTLS bool   // RFC 8689
	SMTPUTF8   bool   // RFC 6531
	Body8Bit   bool   // RFC 6152 BODY=8BITMIME
}

// Filing is where one local recipient's copy goes.
type Filing struct {
	Mailbox string // "" for INBOX
	// Header fields for this copy only, served after Prefix's Return-Path
	// and before the rest of it.
	Header []byte
}

// copyGroup is the local targets that get the same bytes.
type copyGroup struct {
	header  []byte
	targets []store.Target
}

// Deliver parses the message (the prefix followed by the spooled body, as
// the store will serve it, so that every offset is relative to the served
// message), then stores it in one transaction: into the INBOX, or the
// mailbox of its Filing, of each local account and, for remote recipients,
// into the outbound queue. Copies that differ by their Filing header are
// parsed and stored each once, sharing the body file. When it returns nil
// the message is durable; the QueueID is on the first element. The caller
// still owns the spool and discards it on error.
func Deliver(ctx context.Context, st store.Ingest, in Incoming) ([]store.Delivered, error) {
	if len(in.Local) == 0 && len(in.Remote) == 0 {
		return nil, fmt.Errorf("%w: delivery without recipients", store.ErrInvalid)
	}
	now := time.Now()
	var groups []*copyGroup
	byHeader := map[string]*copyGroup{}
	for _, a := range in.Local {
		f := in.Filing[a.ID]
		g := byHeader[string(f.Header)]
		if g == nil {
			g = &copyGroup{header: f.Header}
			byHeader[string(f.Header)] = g
			groups = append(groups, g)
		}
		mailbox := f.Mailbox
		if mailbox == "" {
			mailbox = "INBOX"
		}
		g.targets = append(g.targets, store.Target{AccountID: a.ID, Mailbox: mailbox, InternalDate: now})
	}
	if len(groups) == 0 {
		groups = []*copyGroup{{}} // queue only
	}
	ds := make([]*store.Delivery, len(groups))
	for i, g := range groups {
		d, err := Prepare(in.Spool, withHeader(in.Prefix, g.header), g.targets)
		if err != nil {
			return nil, err
		}
		ds[i] = d
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
		ds[0].Queue = &store.QueueEntry{
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
			Prefix:      append(slices.Clip(in.QueueHeader), withoutReturnPath(in.Prefix)...),
		}
	}
	res, err := st.DeliverAll(ctx, ds)
	if err != nil {
		return nil, err
	}
	var out []store.Delivered
	for _, r := range res {
		out = append(out, r...)
	}
	return out, nil
}

// Prepare makes the store.Delivery of one message for targets: prefix
// followed by the finished spool, parsed once for its metadata and the
// searchable text that feeds the store's full-text index (IMAP SEARCH TEXT
// and BODY). It is the one parse of every way a message enters a mailbox:
// SMTP (Deliver), IMAP APPEND, imports.
func Prepare(spool store.Spool, prefix []byte, targets []store.Target) (*store.Delivery, error) {
	meta, err := parse(spool, prefix)
	if err != nil {
		return nil, err
	}
	return &store.Delivery{Spool: spool, Prefix: prefix, Meta: meta, Targets: targets}, nil
}

func parse(spool store.Spool, prefix []byte) (store.MessageMeta, error) {
	body, err := spool.Open()
	if err != nil {
		return store.MessageMeta{}, fmt.Errorf("deliver: reading spool: %w", err)
	}
	r := store.NewMessageReader(prefix, body)
	defer r.Close()
	parsed, meta, err := message.ParseMeta(r, r.Size())
	if err != nil {
		return store.MessageMeta{}, fmt.Errorf("deliver: parsing message: %w", err)
	}
	if meta.HeadersText, meta.BodyText, err = message.ExtractText(r, parsed.Root, MaxSearchText); err != nil {
		return store.MessageMeta{}, fmt.Errorf("deliver: message text: %w", err)
	}
	return meta, nil
}

// withHeader inserts header after the leading Return-Path field of prefix
// (which stays first, RFC 5321 §4.4), or at its start when there is none.
func withHeader(prefix, header []byte) []byte {
	if len(header) == 0 {
		return prefix
	}
	rest := withoutReturnPath(prefix)
	n := len(prefix) - len(rest)
	out := make([]byte, 0, len(prefix)+len(header))
	out = append(out, prefix[:n]...)
	out = append(out, header...)
	return append(out, rest...)
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
