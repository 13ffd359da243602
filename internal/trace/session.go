package trace

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Redactor turns the lines of one protocol into what a trace shows. A
// Session makes a new one at every start of its streams, and gives it
// every line of both directions in the order they crossed the connection.
type Redactor interface {
	// Client takes a line the client sent, without its line end, and
	// returns the text to show ("" for none, as for the lines of a
	// message body) and how many octets after the line are data that is
	// never shown (an IMAP literal, a BDAT chunk).
	Client(line []byte) (shown string, skip int64)
	// Server is Client for a line the server sent.
	Server(line []byte) (shown string, skip int64)
}

// Bounds of what a Session holds.
const (
	maxLine = 8 << 10 // longer lines are shown cut in the middle
	tailLen = 256     // of a cut line, the end kept, where literals are announced
	maxKept = 100     // lines kept before login, the latest
)

// Session traces one connection. Its methods are safe on a nil *Session,
// which traces nothing, and Client and Server may be called from two
// goroutines (IMAP IDLE reads while the session writes).
type Session struct {
	hub    *Hub
	proto  string
	conn   string
	remote netip.Addr
	newRed func() Redactor
	login  bool // the session may log in: lines are kept for account traces

	on    atomic.Bool   // the streams are parsed: lines shown or kept
	gen   atomic.Uint64 // the Hub's gen when the session last looked
	dirty atomic.Bool   // Sync must look again: a login, or a start to make

	mu          sync.Mutex
	account     string
	recheck     bool // Login happened: look again even if gen is the same
	want        bool // some trace wants the session, or lines are kept for one
	subs        []*Sub
	keep        bool // keeping lines until a login may match
	kept        []Event
	keptDropped int
	red         Redactor
	c, s        stream
	epoch       uint64 // moved on by Restart: Readers and Writers of older layers are ignored
}

// Start begins tracing a connection of proto from remote, known in the
// logs as conn. It is called before the greeting, the first point where
// the streams are known to be clean.
func (h *Hub) Start(proto, conn string, remote netip.Addr, newRed func() Redactor) *Session {
	return h.start(proto, conn, remote, newRed, true)
}

// StartNoLogin is Start for a session that never logs in (the MX): only
// traces of its address want it, and nothing is kept for account traces.
func (h *Hub) StartNoLogin(proto, conn string, remote netip.Addr, newRed func() Redactor) *Session {
	return h.start(proto, conn, remote, newRed, false)
}

func (h *Hub) start(proto, conn string, remote netip.Addr, newRed func() Redactor, login bool) *Session {
	if h == nil {
		return nil
	}
	t := &Session{hub: h, proto: proto, conn: conn, remote: remote.Unmap(), newRed: newRed, login: login}
	t.mu.Lock()
	t.look()
	if t.want {
		t.begin()
	}
	t.mu.Unlock()
	return t
}

// look finds the traces that want the session; t.mu is held.
func (t *Session) look() {
	t.gen.Store(t.hub.gen.Load())
	t.recheck = false
	t.subs = t.hub.match(t.account, t.remote)
	t.keep = len(t.subs) == 0 && t.login && t.account == "" && t.hub.accounts.Load() > 0
	t.want = len(t.subs) > 0 || t.keep
	if len(t.subs) > 0 && (len(t.kept) > 0 || t.keptDropped > 0) {
		if t.keptDropped > 0 {
			t.send(t.event(Note, fmt.Sprintf("(%d earlier lines not kept)", t.keptDropped)))
		}
		for _, e := range t.kept {
			e.Account = t.account
			t.send(e)
		}
	}
	if !t.keep {
		t.kept, t.keptDropped = nil, 0
	}
	if !t.want {
		t.on.Store(false)
		t.red = nil
	}
	t.dirty.Store(t.want && !t.on.Load())
}

// begin starts the streams afresh; t.mu is held.
func (t *Session) begin() {
	t.red = t.newRed()
	t.c, t.s = stream{}, stream{}
	t.on.Store(true)
	t.dirty.Store(false)
}

// Sync is called between commands, with how many octets of client input
// the protocol has read and not yet used. When the traces changed or the
// session logged in, it looks again; a session a trace now wants starts
// here when nothing is buffered, else at a later Sync. It costs two
// atomic loads when nothing changed.
func (t *Session) Sync(buffered int) {
	if t == nil || (t.gen.Load() == t.hub.gen.Load() && !t.dirty.Load()) {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.recheck || t.gen.Load() != t.hub.gen.Load() {
		t.look()
	}
	if t.want && !t.on.Load() && buffered == 0 {
		t.begin()
	}
}

// Restart says the streams start again on a new layer (after STARTTLS, or
// COMPRESS): the Redactor starts afresh when nothing of the old layer is
// left unread (buffered 0), else the trace pauses until a Sync finds the
// input drained.
func (t *Session) Restart(buffered int) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.epoch++
	if !t.want {
		return
	}
	if buffered == 0 {
		t.begin()
		return
	}
	t.on.Store(false)
	t.red = nil
	t.dirty.Store(true)
}

// Login tells the account the session logged in as: traces of it get the
// session from now on, with the lines kept before the login.
func (t *Session) Login(account string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.account = strings.ToLower(account)
	t.recheck = true
	t.look()
}

// Note adds a remark of the server's to the trace ("*" lines).
func (t *Session) Note(text string) {
	if t == nil || !t.on.Load() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.on.Load() {
		t.emit(Note, text)
	}
}

// End closes the trace of the connection.
func (t *Session) End() {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.on.Load() && len(t.subs) > 0 {
		t.emit(Note, "connection closed")
	}
	t.on.Store(false)
	t.subs, t.kept, t.red, t.want = nil, nil, nil, false
	t.dirty.Store(false)
}

// Client passes on octets read from the client.
func (t *Session) Client(p []byte) {
	if t == nil || !t.on.Load() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.client(p)
}

// client feeds the client's stream; t.mu is held.
func (t *Session) client(p []byte) {
	if t.on.Load() {
		t.c.feed(p, t.red.Client, func(s string) { t.emit(FromClient, s) })
	}
}

// Server passes on octets written to the client.
func (t *Session) Server(p []byte) {
	if t == nil || !t.on.Load() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.server(p)
}

// server feeds the server's stream; t.mu is held.
func (t *Session) server(p []byte) {
	if t.on.Load() {
		t.s.feed(p, t.red.Server, func(s string) { t.emit(FromServer, s) })
	}
}

func (t *Session) event(dir, text string) Event {
	return Event{Time: time.Now(), Conn: t.conn, Proto: t.proto, Remote: t.remote.String(),
		Account: t.account, Dir: dir, Text: printable(text)}
}

// emit sends a line to the traces, or keeps it until login; t.mu is held.
func (t *Session) emit(dir, text string) {
	e := t.event(dir, text)
	if len(t.subs) > 0 {
		t.send(e)
		return
	}
	if t.keep {
		if len(t.kept) == maxKept {
			t.kept = append(t.kept[:0], t.kept[1:]...)
			t.keptDropped++
		}
		t.kept = append(t.kept, e)
	}
}

func (t *Session) send(e Event) {
	for _, s := range t.subs {
		s.send(e)
	}
}

// stream cuts one direction's octets into lines.
type stream struct {
	line []byte
	tail []byte // the end of a line longer than maxLine
	over bool   // the line is longer than maxLine
	skip int64  // octets still to pass unseen
}

// feed takes p, giving every complete line to red and what red shows to
// emit.
func (st *stream) feed(p []byte, red func([]byte) (string, int64), emit func(string)) {
	for len(p) > 0 {
		if st.skip > 0 {
			n := int(min(st.skip, int64(len(p))))
			st.skip -= int64(n)
			p = p[n:]
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			st.add(p)
			return
		}
		st.add(p[:i])
		p = p[i+1:]
		shown, skip := red(st.take())
		if shown != "" {
			emit(shown)
		}
		st.skip = max(skip, 0)
	}
}

func (st *stream) add(b []byte) {
	if !st.over {
		room := maxLine - len(st.line)
		if len(b) <= room {
			st.line = append(st.line, b...)
			return
		}
		st.line = append(st.line, b[:room]...)
		b = b[room:]
		st.over = true
	}
	st.tail = append(st.tail, b...)
	if len(st.tail) > tailLen {
		st.tail = append(st.tail[:0], st.tail[len(st.tail)-tailLen:]...)
	}
}

// take returns the line, without its CR, a long one with its middle cut
// (its start and end kept), and starts the next.
func (st *stream) take() []byte {
	line := st.line
	if st.over {
		line = append(append(line, "..."...), st.tail...)
	}
	line = bytes.TrimSuffix(line, []byte("\r"))
	out := bytes.Clone(line)
	st.line, st.tail, st.over = st.line[:0], st.tail[:0], false
	return out
}

// printable escapes control characters and invalid UTF-8.
func printable(s string) string {
	ok := utf8.ValidString(s)
	for i := 0; ok && i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			ok = false
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1, (r < 0x20 && r != '\t') || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// Reader returns r, passing what is read from it to the trace as the
// client's (r itself on a nil Session), until the next Restart: a layer
// put on top of r (COMPRESS reads through the old reader) brings its own
// Reader, and r's octets, compressed, are not the dialogue.
func (t *Session) Reader(r io.Reader) io.Reader {
	if t == nil {
		return r
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return &reader{r: r, t: t, epoch: t.epoch}
}

// Writer is Reader for what the server writes.
func (t *Session) Writer(w io.Writer) io.Writer {
	if t == nil {
		return w
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return &writer{w: w, t: t, epoch: t.epoch}
}

type reader struct {
	r     io.Reader
	t     *Session
	epoch uint64
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 && r.t.on.Load() {
		r.t.mu.Lock()
		if r.t.epoch == r.epoch {
			r.t.client(p[:n])
		}
		r.t.mu.Unlock()
	}
	return n, err
}

type writer struct {
	w     io.Writer
	t     *Session
	epoch uint64
}

func (w *writer) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if n > 0 && w.t.on.Load() {
		w.t.mu.Lock()
		if w.t.epoch == w.epoch {
			w.t.server(p[:n])
		}
		w.t.mu.Unlock()
	}
	return n, err
}
