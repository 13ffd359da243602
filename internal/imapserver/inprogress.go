package imapserver

import (
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"postel/internal/imap"
)

// INPROGRESS (RFC 9585): while a long SEARCH, SORT, THREAD, COPY, MOVE,
// STORE or EXPUNGE runs, the client is told it is still running with untagged
// "OK [INPROGRESS (tag progress goal)]" responses: the first once the
// command has run for progressTiming.first, then at most every
// progressTiming.every (RFC 9585 §4 recommends 10 to 15 seconds).
// Searches count the messages looked at; a single store operation (COPY,
// MOVE, STORE, EXPUNGE) has no count, so its reports say NIL NIL.
//
// Only the session's goroutine writes: a store operation waited on runs
// in a goroutine of its own that writes nothing.

// progressTiming is when progress reports are due.
type progressTiming struct {
	first, every time.Duration
}

// defaultProgress: a client learns early that a command is long, then
// hears of it every 10 seconds (RFC 9585 §4: "RECOMMENDED that these are
// sent every 10-15 seconds").
var defaultProgress = progressTiming{first: time.Second, every: 10 * time.Second}

// progress reports the progress of the running command.
type progress struct {
	s      *session
	tag    string // "" when the tag cannot be given
	timing progressTiming
	next   time.Time
}

// startProgress starts reporting the progress of cmd; the function
// returned ends it.
func (s *session) startProgress(cmd *imap.Command) func() {
	t := s.srv.cfg.progress
	if t.first <= 0 || t.every <= 0 {
		t = defaultProgress
	}
	p := &progress{s: s, tag: cmd.Tag, timing: t, next: time.Now().Add(t.first)}
	// RFC 9585 §4: a tag containing "]" MUST be given as NIL.
	if strings.Contains(p.tag, "]") {
		p.tag = ""
	}
	s.prog = p
	return func() { s.prog = nil }
}

// step notes that done of goal items are processed, and reports it when
// due. Nothing is reported once done reaches goal (RFC 9585 §4: no
// notification where PROGRESS equals GOAL).
func (p *progress) step(done, goal int) {
	if p == nil || done >= goal {
		return
	}
	now := time.Now()
	if now.Before(p.next) {
		return
	}
	p.next = now.Add(p.timing.every)
	p.report(done, goal)
}

// report writes one notification and sends it at once; a negative done
// is unknown progress (NIL NIL).
func (p *progress) report(done, goal int) {
	w := p.s.w
	w.Atom("* OK [INPROGRESS (")
	if p.tag == "" {
		w.Nil()
	} else {
		w.Quoted(p.tag)
	}
	if done < 0 {
		w.Atom(" NIL NIL")
	} else {
		w.SP()
		w.Number(uint64(done))
		w.SP()
		w.Number(uint64(goal))
	}
	w.Atom(")] Still working")
	w.CRLF()
	if err := p.s.flush(); err != nil {
		p.s.log.Debug("progress report not sent", "err", err)
	}
}

// waitProgress runs fn, a store operation, and reports its progress (as
// unknown) while it runs, when a command's progress is being reported.
func (s *session) waitProgress(fn func() error) error {
	p := s.prog
	if p == nil {
		return fn()
	}
	done := make(chan error, 1)
	go func() {
		defer func() {
			if x := recover(); x != nil {
				s.log.Error("panic in store operation", "panic", fmt.Sprint(x), "stack", string(debug.Stack()))
				done <- fmt.Errorf("panic: %v", x)
			}
		}()
		done <- fn()
	}()
	timer := time.NewTimer(max(time.Until(p.next), 0))
	defer timer.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-timer.C:
			p.report(-1, 0)
			p.next = time.Now().Add(p.timing.every)
			timer.Reset(p.timing.every)
		}
	}
}
