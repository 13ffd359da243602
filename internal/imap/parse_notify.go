package imap

import "strings"

// NOTIFY (RFC 5465 §8): the arguments of NOTIFY SET and NOTIFY NONE.

// NotifyArgs: NOTIFY NONE (None) or NOTIFY SET [STATUS] event-groups.
type NotifyArgs struct {
	None   bool
	Status bool // the STATUS indicator (RFC 5465 §3)
	Groups []NotifyGroup
}

// NotifyGroup is one event group: the mailboxes it covers and the events
// asked for them (none: NONE, no events for these mailboxes).
type NotifyGroup struct {
	// Filter is upper case: SELECTED, SELECTED-DELAYED, INBOXES,
	// PERSONAL, SUBSCRIBED, SUBTREE or MAILBOXES.
	Filter    string
	Mailboxes []string // SUBTREE and MAILBOXES: the names given, decoded
	Events    []NotifyEvent
}

// NotifyEvent is one event as named (RFC 5465 §5), in its canonical
// spelling when known (MessageNew, MessageExpunge, FlagChange,
// AnnotationChange, MailboxName, SubscriptionChange,
// MailboxMetadataChange, ServerMetadataChange), else as given (an
// event-ext the server does not know).
type NotifyEvent struct {
	Name  string
	Fetch []FetchItem // MessageNew's fetch attributes, nil when none given
}

// notifyEvents maps the upper-case event names to their spelling.
var notifyEvents = map[string]string{}

func init() {
	for _, e := range []string{"MessageNew", "MessageExpunge", "FlagChange", "AnnotationChange", "MailboxName",
		"SubscriptionChange", "MailboxMetadataChange", "ServerMetadataChange"} {
		notifyEvents[strings.ToUpper(e)] = e
	}
}

// notify: "NOTIFY" SP (notify-set / notify-none); notify-none = "NONE";
// notify-set = "SET" [status-indicator] SP event-groups; event-group =
// "(" filter-mailboxes SP events ")"; events = "(" event *(SP event) ")"
// / "NONE".
func (r *Reader) notify() *NotifyArgs {
	a := &NotifyArgs{}
	r.sp()
	switch r.word() {
	case "NONE":
		a.None = true
		return a
	case "SET":
	default:
		r.bad("NOTIFY must be followed by SET or NONE")
	}
	r.sp()
	if r.keyword("STATUS") {
		a.Status = true
		r.sp()
	}
	for {
		r.item()
		a.Groups = append(a.Groups, r.notifyGroup())
		if r.atEnd() {
			return a
		}
		r.sp()
	}
}

// notifyGroup reads one event-group.
func (r *Reader) notifyGroup() NotifyGroup {
	var g NotifyGroup
	r.expect('(')
	g.Filter = r.word()
	switch g.Filter {
	case "SELECTED", "SELECTED-DELAYED", "INBOXES", "PERSONAL", "SUBSCRIBED":
	case "SUBTREE", "MAILBOXES":
		// one-or-more-mailbox = mailbox / "(" mailbox *(SP mailbox) ")"
		r.sp()
		if r.peek() == '(' {
			r.parenList(false, func() { g.Mailboxes = append(g.Mailboxes, r.mailbox()) })
		} else {
			r.item()
			g.Mailboxes = []string{r.mailbox()}
		}
	default:
		r.bad("unknown NOTIFY mailbox filter " + g.Filter)
	}
	r.sp()
	if r.keyword("NONE") {
		r.expect(')')
		return g
	}
	r.parenList(false, func() {
		name := r.atom()
		ev := NotifyEvent{Name: name}
		if known, ok := notifyEvents[strings.ToUpper(name)]; ok {
			ev.Name = known
		}
		if ev.Name == "MessageNew" && r.peek() == ' ' && r.pos+1 < len(r.line) && r.line[r.pos+1] == '(' {
			r.sp()
			ev.Fetch = []FetchItem{}
			r.parenList(false, func() { ev.Fetch = append(ev.Fetch, r.fetchAtt()) })
		}
		g.Events = append(g.Events, ev)
	})
	r.expect(')')
	return g
}
