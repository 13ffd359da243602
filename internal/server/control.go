package server

import (
	"errors"

	"postel/internal/admin"
	"postel/internal/control"
)

// startControl opens the control socket (data_dir/control.sock) and serves
// the admin commands of internal/admin on the live store: what they change
// reaches open sessions through the store's change feed, and queue
// commands wake the live queue. A data directory whose path is too long
// for a socket gets no control socket, with a warning: admin commands then
// work on the store directly, as when no server runs.
func (s *Server) startControl() error {
	l, err := control.Listen(s.cfg.DataDir)
	if errors.Is(err, control.ErrPathTooLong) {
		s.log.Warn("no control socket: admin commands will work on the store directly, and open sessions see their changes late", "err", err)
		return nil
	} else if err != nil {
		return err
	}
	s.controlPath = l.Addr().String()
	s.control = &control.Server{
		Handler: admin.New(s.st, admin.Options{DataDir: s.cfg.DataDir, Kick: s.queue.Kick, Reload: s.ReloadConfig}),
		Streams: map[string]control.StreamFunc{"trace": s.streamTrace},
		Log:     s.log.With("component", "control"),
	}
	s.controlDone = make(chan struct{})
	go func() {
		defer close(s.controlDone)
		if err := s.control.Serve(l); err != nil && !errors.Is(err, control.ErrClosed) {
			s.log.Error("control socket stopped", "err", err)
		}
	}()
	s.log.Info("control socket", "path", s.controlPath)
	return nil
}

// stopControl closes the control socket, ending the commands under way,
// and removes its file.
func (s *Server) stopControl() {
	if s.control == nil {
		return
	}
	s.control.Close()
	<-s.controlDone
}

// ControlPath is the control socket's path, "" when there is none.
func (s *Server) ControlPath() string { return s.controlPath }
