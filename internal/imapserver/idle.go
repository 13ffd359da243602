package imapserver

import (
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"time"

	"postel/internal/imap"
)

// errBye ends the session after a BYE the handler wrote.
var errBye = errors.New("session ended with BYE")

// IDLE (RFC 9051 §6.3.13; RFC 2177): updates of the selected mailbox are
// pushed as the store announces them, until DONE. A helper goroutine
// reads the DONE line; the session's goroutine keeps writing. IDLE ends
// with the session at the autologout time (IdleTimeout) and at shutdown.
func (s *session) cmdIdle(cmd *imap.Command) error {
	s.w.Continuation("idling")
	if s.sel != nil {
		if err := s.update(true); err != nil {
			return err
		}
	}
	if err := s.flush(); err != nil {
		return abort(err)
	}
	if s.conn.ReadBy(time.Now().Add(s.srv.cfg.IdleTimeout)) {
		s.interrupted()
		return errBye
	}
	done := make(chan error, 1)
	go func() {
		defer func() {
			if x := recover(); x != nil {
				s.log.Error("panic reading DONE", "panic", fmt.Sprint(x), "stack", string(debug.Stack()))
				done <- fmt.Errorf("panic: %v", x)
			}
		}()
		done <- s.r.ReadIdleDone()
	}()
	var ready <-chan struct{}
	if s.sel != nil {
		ready = s.sel.sub.Ready()
	}
	// stopReading ends the helper before the session goes on.
	stopReading := func() {
		s.conn.CancelRead()
		<-done
	}
	for {
		select {
		case err := <-done:
			var pe *imap.ParseError
			var ne net.Error
			switch {
			case err == nil:
				return nil // RFC 9051 §6.3.13: DONE, then the tagged OK
			case errors.As(err, &pe):
				return bad(pe.Text)
			case s.conn.Closing():
				s.interrupted()
			case errors.As(err, &ne) && ne.Timeout():
				s.bye("Autologout; idle for too long")
			}
			return errBye
		case <-ready:
			if s.sharedRevoked() { // its owner took the r right back (shared.go)
				ready = nil
				if err := s.flush(); err != nil {
					stopReading()
					return abort(err)
				}
				continue
			}
			err := s.update(true)
			if err == nil {
				err = s.flush()
			}
			if err != nil {
				stopReading()
				return abort(err)
			}
			if s.sel.gone {
				stopReading()
				s.bye(s.selectedGone())
				return errBye
			}
		case <-s.notifyReady():
			// RFC 5465: the events NOTIFY asks for, in IDLE too.
			s.sendNotifications()
			if err := s.flush(); err != nil {
				stopReading()
				return abort(err)
			}
		case <-s.stop:
			s.interrupted()
			stopReading()
			return errBye
		}
	}
}
