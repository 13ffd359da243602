// Package maillog writes the mail log: one line per message and recipient
// outcome, at info level, always msg=mail, so that
//
//	grep 'msg=mail.*bob@example.org' postel.log
//
// answers "did the mail for bob arrive?": accepted into a mailbox, queued,
// refused (with the reply code), sent to a remote MX (with its reply),
// deferred or bounced. Each line counts its outcome in the metrics
// (postel_mail_recipients_total), so the log and the counters agree.
//
// The fields, in this order, those without a value left out:
//
//	id          the SMTP id the client was told ("queued as"), which is also
//	            in the Received field; absent before the data (RCPT refused)
//	queue_id    the outbound queue entry: on queued lines and every line of
//	            the queue (sent, deferred, bounced), which have no SMTP id
//	message_id  the Message-ID header field, when known
//	from        the envelope sender, <> for the null sender
//	to          the recipient: the account for local deliveries, the
//	            remote address otherwise
//	size        the message in octets, as stored
//	result      delivered, queued, refused, sent, deferred, bounced
//	mailbox     delivered: the mailbox (INBOX, Junk)
//	mx          sent, deferred: the remote host that answered
//	code        refused, sent, deferred, bounced: the reply code
//	reply       the reply text, with its enhanced status code
//	reason      refused: why, in words
//	delay       since the message arrived: from MAIL on SMTP, from its
//	            arrival in the queue for queue lines
package maillog

import (
	"context"
	"log/slog"
	"time"

	"postel/internal/metrics"
)

// Results, as metrics names the outcomes.
const (
	Delivered = metrics.OutcomeDelivered
	Queued    = metrics.OutcomeQueued
	Refused   = metrics.OutcomeRefused
	Sent      = metrics.OutcomeSent
	Deferred  = metrics.OutcomeDeferred
	Bounced   = metrics.OutcomeBounced
)

// Entry is one outcome of a message for one recipient.
type Entry struct {
	ID        string // SMTP id, "" when none
	QueueID   int64  // 0 when none
	MessageID string
	From      string // "" for the null sender
	To        string
	Size      int64 // 0 when not known yet
	Result    string
	Mailbox   string
	MX        string
	Code      int
	Reply     string
	Reason    string
	Delay     time.Duration
}

// Record writes e's line on log (whose attributes, such as conn= or
// queue's service=, come first) and counts it in m (nil: not counted).
func Record(log *slog.Logger, m *metrics.Metrics, e Entry) {
	m.Recipient(e.Result)
	if log == nil || !log.Enabled(context.Background(), slog.LevelInfo) {
		return
	}
	attrs := make([]slog.Attr, 0, 12)
	str := func(k, v string) {
		if v != "" {
			attrs = append(attrs, slog.String(k, v))
		}
	}
	str("id", e.ID)
	if e.QueueID != 0 {
		attrs = append(attrs, slog.Int64("queue_id", e.QueueID))
	}
	str("message_id", e.MessageID)
	from := e.From
	if from == "" {
		from = "<>"
	}
	attrs = append(attrs, slog.String("from", from), slog.String("to", e.To))
	if e.Size > 0 {
		attrs = append(attrs, slog.Int64("size", e.Size))
	}
	attrs = append(attrs, slog.String("result", e.Result))
	str("mailbox", e.Mailbox)
	str("mx", e.MX)
	if e.Code != 0 {
		attrs = append(attrs, slog.Int("code", e.Code))
	}
	str("reply", e.Reply)
	str("reason", e.Reason)
	attrs = append(attrs, slog.Duration("delay", e.Delay.Round(time.Millisecond)))
	log.LogAttrs(context.Background(), slog.LevelInfo, "mail", attrs...)
}
