package control

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"postel/internal/admin"
	"postel/internal/store/sqlite"
)

// kindErr is a refusal with a kind, as internal/admin's errors are.
type kindErr struct{ kind, msg string }

func (e kindErr) Error() string     { return e.msg }
func (e kindErr) ErrorKind() string { return e.kind }

// streamServer serves the real admin commands and two streams: "ticks"
// sends what the test puts in ticks until its context ends, which it
// reports on ended; "refuse" fails at once.
func streamServer(t *testing.T) (dir string, s *Server, ticks chan int, ended chan struct{}) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l, err := Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	ticks, ended = make(chan int), make(chan struct{}, 1)
	s = &Server{
		Handler: admin.New(st, admin.Options{DataDir: dir}),
		Streams: map[string]StreamFunc{
			"ticks": func(ctx context.Context, args json.RawMessage, send func(any) error) error {
				defer func() { ended <- struct{}{} }()
				for {
					select {
					case n := <-ticks:
						if err := send(map[string]int{"n": n}); err != nil {
							return err
						}
					case <-ctx.Done():
						return ctx.Err()
					}
				}
			},
			"refuse": func(context.Context, json.RawMessage, func(any) error) error {
				return kindErr{"invalid", "no such target"}
			},
		},
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return dir, s, ticks, ended
}

// TestStreamClientEnds: events arrive in order; the client's interrupt
// (its context) ends the stream on both sides.
func TestStreamClientEnds(t *testing.T) {
	dir, _, ticks, ended := streamServer(t)
	c := dial(t, dir)
	sctx, cancel := context.WithCancel(ctx)
	var got []int
	errc := make(chan error, 1)
	go func() {
		errc <- c.Stream(sctx, "ticks", nil, func(raw json.RawMessage) error {
			var e struct{ N int }
			if err := json.Unmarshal(raw, &e); err != nil {
				return err
			}
			got = append(got, e.N)
			if len(got) == 3 {
				cancel()
			}
			return nil
		})
	}()
	for i := 1; i <= 3; i++ {
		ticks <- i
	}
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) || len(got) != 3 || got[0] != 1 || got[2] != 3 {
			t.Fatalf("Stream = %v, events %v", err, got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stream did not return after the interrupt")
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the server's stream went on after the client left")
	}
	// Other commands still work on a new connection.
	var domains []string
	if err := dial(t, dir).Call(ctx, "domain list", nil, &domains); err != nil {
		t.Fatalf("domain list: %v", err)
	}
}

// TestStreamServerEnds: a server that closes ends the stream, and the
// client hears of it.
func TestStreamServerEnds(t *testing.T) {
	dir, s, ticks, ended := streamServer(t)
	c := dial(t, dir)
	errc := make(chan error, 1)
	first := make(chan struct{})
	go func() {
		errc <- c.Stream(ctx, "ticks", nil, func(json.RawMessage) error {
			close(first)
			return nil
		})
	}()
	ticks <- 1
	<-first
	s.Close()
	<-ended
	select {
	case err := <-errc:
		// The final response races the closing of the connection: the
		// client gets it, or sees the connection end.
		if err != nil && !errors.Is(err, ErrStreamEnded) {
			t.Fatalf("Stream after the server closed = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stream did not return after the server closed")
	}
}

// TestStreamRefused: a stream's error is the final response, with its
// kind.
func TestStreamRefused(t *testing.T) {
	dir, _, _, _ := streamServer(t)
	err := dial(t, dir).Stream(ctx, "refuse", nil, func(json.RawMessage) error {
		t.Error("event from a refused stream")
		return nil
	})
	var ce *Error
	if !errors.As(err, &ce) || ce.Kind != "invalid" || ce.Message != "no such target" {
		t.Fatalf("Stream = %v, want the refusal", err)
	}
}
