package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// ErrNoServer is returned by Dial when no server listens on the data
// directory: no socket there, or one nobody answers on (a server that
// died). The caller then works on the store directly.
var ErrNoServer = errors.New("control: no server is running")

// Client is a connection to a running server's control socket. It is not
// safe for concurrent use.
type Client struct {
	c net.Conn
	r *bufio.Reader
}

// Dial connects to the control socket of the data directory dir.
func Dial(dir string) (*Client, error) {
	path := SocketPath(dir)
	if len(path) > maxPath {
		// A server cannot listen there either (ErrPathTooLong).
		return nil, fmt.Errorf("%w (%s is too long for a socket)", ErrNoServer, path)
	}
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	switch {
	case err == nil:
		return &Client{c: c, r: bufio.NewReaderSize(c, 64<<10)}, nil
	case errors.Is(err, os.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
		return nil, fmt.Errorf("%w on %s", ErrNoServer, dir)
	case errors.Is(err, os.ErrPermission):
		return nil, fmt.Errorf("control: %s: permission denied: run the command as the server's user", path)
	}
	return nil, fmt.Errorf("control: %w", err)
}

// Call runs command with args (any JSON-encodable value) on the server
// and decodes its result into result (nil: ignore it). A refusal or
// failure of the command is an *Error.
func (c *Client) Call(ctx context.Context, command string, args, result any) error {
	raw, err := json.Marshal(args)
	if err != nil {
		return err
	}
	req, err := json.Marshal(Request{Command: command, Args: raw})
	if err != nil {
		return err
	}
	if len(req) > MaxLine {
		return errLineTooLong
	}
	stop := context.AfterFunc(ctx, func() { c.c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := c.c.Write(append(req, '\n')); err != nil {
		return c.failed(ctx, err)
	}
	line, err := readLine(c.r)
	if err != nil {
		return c.failed(ctx, err)
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return fmt.Errorf("control: malformed response: %w", err)
	}
	if resp.Error != nil {
		return resp.Error
	}
	if result == nil {
		return nil
	}
	if err := json.Unmarshal(resp.Result, result); err != nil {
		return fmt.Errorf("control: malformed result of %s: %w", command, err)
	}
	return nil
}

// ErrStreamEnded is returned by Stream when the server closed the
// connection without a final response: it is stopping.
var ErrStreamEnded = errors.New("control: the server ended the stream (stopping?)")

// Stream runs a streaming command (a Server's Streams) with args and
// passes each event to each, until the server ends the stream (nil, or
// the command's *Error), each fails (its error), or ctx ends (ctx's
// error): then the connection is closed, which tells the server to stop.
// The Client is not usable after it.
func (c *Client) Stream(ctx context.Context, command string, args any, each func(event json.RawMessage) error) error {
	raw, err := json.Marshal(args)
	if err != nil {
		return err
	}
	req, err := json.Marshal(Request{Command: command, Args: raw})
	if err != nil {
		return err
	}
	defer c.c.Close()
	stop := context.AfterFunc(ctx, func() { c.c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := c.c.Write(append(req, '\n')); err != nil {
		return c.failed(ctx, err)
	}
	for {
		line, err := readLine(c.r)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
				return ErrStreamEnded
			}
			return fmt.Errorf("control: %w", err)
		}
		var resp Response
		if err := json.Unmarshal(line, &resp); err != nil {
			return fmt.Errorf("control: malformed response: %w", err)
		}
		switch {
		case resp.Error != nil:
			return resp.Error
		case resp.Event != nil:
			if err := each(resp.Event); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

// failed words an I/O error of a call.
func (c *Client) failed(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return errors.New("control: the server closed the connection without an answer (shutting down?)")
	}
	return fmt.Errorf("control: %w", err)
}

// Close ends the connection.
func (c *Client) Close() error { return c.c.Close() }
