package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Handler runs one command: internal/admin's Admin.Exec. An error with an
// ErrorKind method is a refusal whose message the operator reads; any other
// is a server fault, logged, and its text sent as it is (the peer is the
// server's own user, who may see it).
type Handler interface {
	Exec(ctx context.Context, command string, args json.RawMessage) (json.RawMessage, error)
}

// ErrPathTooLong is returned by Listen when the socket's path does not fit
// in a Unix socket address: the server then runs without a control socket
// and admin commands work on the store directly.
var ErrPathTooLong = errors.New("control: socket path too long")

// readTimeout bounds the wait for a request line, writeTimeout the
// writing of a response.
const (
	readTimeout  = 5 * time.Minute
	writeTimeout = 30 * time.Second
)

// maxConns bounds the connections served at once; more wait to be
// accepted.
const maxConns = 16

// Listen opens the control socket of the data directory dir, for the
// process holding its lock (postel serve). dir's mode is narrowed to 0700
// and the socket gets 0600. A socket file already there that no server
// answers on is a leftover of a server that died, and is replaced; one
// that answers is an error.
func Listen(dir string) (*net.UnixListener, error) {
	path := SocketPath(dir)
	if len(path) > maxPath {
		return nil, fmt.Errorf("%w: %s (%d bytes, at most %d)", ErrPathTooLong, path, len(path), maxPath)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("control: %w", err)
		}
	}
	if _, err := os.Lstat(path); err == nil {
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("control: another server answers on %s", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control: removing the stale socket: %w", err)
		}
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	// The directory already keeps others out; the mode says so too.
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("control: %w", err)
	}
	return l, nil
}

// StreamFunc runs a streaming command: it calls send for each event (any
// JSON-encodable value) until ctx ends (the client went away, or the
// server closes) or it has nothing more to say. An error of send means
// the client is gone. Its error is the final response, as for Handler;
// the end of ctx is not an error.
type StreamFunc func(ctx context.Context, args json.RawMessage, send func(event any) error) error

// Server serves control connections: each request goes to Handler, or to
// Streams when it names a streaming command.
type Server struct {
	Handler Handler
	Streams map[string]StreamFunc // by command name; nil for none
	Log     *slog.Logger          // nil: discard

	// uid is the only user served: the server's own. Tests change it.
	uid atomic.Int64

	once   sync.Once
	ctx    context.Context // of the requests; ended by Close
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	ln     net.Listener
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func (s *Server) init() {
	s.once.Do(func() {
		if s.Log == nil {
			s.Log = slog.New(slog.DiscardHandler)
		}
		s.uid.Store(int64(os.Geteuid()))
		s.ctx, s.cancel = context.WithCancel(context.Background())
		s.conns = map[net.Conn]struct{}{}
	})
}

// ErrClosed is returned by Serve after Close.
var ErrClosed = errors.New("control: server closed")

// Serve accepts connections on l until Close, then returns ErrClosed.
func (s *Server) Serve(l net.Listener) error {
	s.init()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrClosed
	}
	s.ln = l
	s.mu.Unlock()
	slots := make(chan struct{}, maxConns)
	for {
		slots <- struct{}{}
		c, err := l.Accept()
		if err != nil {
			<-slots
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			<-slots
			return ErrClosed
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
				<-slots
				s.wg.Done()
			}()
			s.serveConn(c)
		}()
	}
}

// Close stops accepting, cancels the requests running, closes the
// connections and waits for their goroutines. The socket file goes with
// the listener.
func (s *Server) Close() error {
	s.init()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var err error
	if s.ln != nil {
		err = s.ln.Close()
	}
	s.cancel()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// serveConn answers the requests of one connection.
func (s *Server) serveConn(c net.Conn) {
	uid, pid, err := peerCred(c)
	log := s.Log.With("peer_pid", pid, "peer_uid", uid)
	w := bufio.NewWriter(c)
	r := bufio.NewReaderSize(c, 64<<10)
	// deny answers the first request with a refusal, then the connection
	// ends: the answer comes where the client looks for it.
	deny := func(msg string) {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := readLine(r); err == nil {
			s.respond(c, w, Response{Error: &Error{Kind: KindDenied, Message: msg}})
		}
	}
	switch {
	case errors.Is(err, errNoPeerCred):
		// No way to ask on this system: the modes of the directory
		// and the socket keep other users out.
	case err != nil:
		log.Warn("control connection refused: reading the peer's credentials failed", "err", err)
		deny("control: cannot tell who you are")
		return
	case int64(uid) != s.uid.Load():
		log.Warn("control connection refused: another user", "server_uid", s.uid.Load())
		deny(fmt.Sprintf("the server runs as uid %d and takes commands only from that user (you are uid %d)", s.uid.Load(), uid))
		return
	}
	for {
		c.SetReadDeadline(time.Now().Add(readTimeout))
		line, err := readLine(r)
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				s.respond(c, w, Response{Error: &Error{Kind: KindProtocol, Message: err.Error()}})
			} else if !errors.Is(err, io.EOF) && s.ctx.Err() == nil {
				log.Debug("control connection ended", "err", err)
			}
			return
		}
		var req Request
		if err := json.Unmarshal(line, &req); err != nil || req.Command == "" {
			s.respond(c, w, Response{Error: &Error{Kind: KindProtocol, Message: "control: malformed request"}})
			return
		}
		if f, ok := s.Streams[req.Command]; ok {
			s.stream(c, r, w, log, req, f)
			return
		}
		if !s.respond(c, w, s.run(log, req)) {
			return
		}
	}
}

// run runs one request.
func (s *Server) run(log *slog.Logger, req Request) Response {
	start := time.Now()
	res, err := s.Handler.Exec(s.ctx, req.Command, req.Args)
	d := time.Since(start).Round(time.Microsecond)
	if err == nil {
		log.Info("admin command", "command", req.Command, "duration", d)
		return Response{Result: res}
	}
	var k interface{ ErrorKind() string }
	if errors.As(err, &k) {
		log.Info("admin command refused", "command", req.Command, "duration", d, "reason", err.Error())
		return Response{Error: &Error{Kind: k.ErrorKind(), Message: err.Error()}}
	}
	log.Error("admin command failed", "command", req.Command, "duration", d, "err", err)
	return Response{Error: &Error{Kind: KindInternal, Message: err.Error()}}
}

// stream runs a streaming command until it returns, the client closes or
// sends anything, or the server closes; the connection ends after it.
func (s *Server) stream(c net.Conn, r *bufio.Reader, w *bufio.Writer, log *slog.Logger, req Request, f StreamFunc) {
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	// The client says nothing during a stream: whatever it sends, or its
	// close, ends it.
	c.SetReadDeadline(time.Time{})
	hungUp := make(chan struct{})
	go func() {
		defer close(hungUp)
		r.ReadByte()
		cancel()
	}()
	defer func() {
		c.SetReadDeadline(time.Unix(1, 0))
		<-hungUp
	}()
	send := func(event any) error {
		b, err := json.Marshal(event)
		if err != nil {
			return err
		}
		if !s.respond(c, w, Response{Event: b}) {
			cancel()
			return errors.New("control: the client went away")
		}
		return nil
	}
	start := time.Now()
	log.Info("admin stream started", "command", req.Command)
	err := f(ctx, req.Args, send)
	d := time.Since(start).Round(time.Millisecond)
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		err = nil // the client or the server ended it
	}
	if err == nil {
		log.Info("admin stream ended", "command", req.Command, "duration", d)
		s.respond(c, w, Response{Result: json.RawMessage("null")})
		return
	}
	var k interface{ ErrorKind() string }
	if errors.As(err, &k) {
		log.Info("admin stream refused", "command", req.Command, "reason", err.Error())
		s.respond(c, w, Response{Error: &Error{Kind: k.ErrorKind(), Message: err.Error()}})
		return
	}
	log.Error("admin stream failed", "command", req.Command, "err", err)
	s.respond(c, w, Response{Error: &Error{Kind: KindInternal, Message: err.Error()}})
}

// respond writes one response line; false when the connection failed.
func (s *Server) respond(c net.Conn, w *bufio.Writer, r Response) bool {
	b, err := json.Marshal(r)
	if err != nil {
		b, _ = json.Marshal(Response{Error: &Error{Kind: KindInternal, Message: "control: encoding the response: " + err.Error()}})
	}
	c.SetWriteDeadline(time.Now().Add(writeTimeout))
	w.Write(b)
	w.WriteByte('\n')
	return w.Flush() == nil
}

var errLineTooLong = fmt.Errorf("control: line longer than %d bytes", MaxLine)

// readLine reads one line of at most MaxLine bytes, without its newline.
// A longer one is refused once the 64 KiB chunk that passes the limit has
// arrived.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		part, err := r.ReadSlice('\n')
		line = append(line, part...)
		if len(line) > MaxLine {
			return nil, errLineTooLong
		}
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) > 0:
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, err
		}
	}
}
