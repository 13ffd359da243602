package smtpserver

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/smtp"
	"net/textproto"
	"time"

	"github.com/xdg-go/scram"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// How a net/smtp client reaches the server.
type dialMode int

const (
	plain    dialMode = iota // no TLS
	startTLS                 // STARTTLS after EHLO (25, 587)
	implicit                 // TLS from the start (465)
)

// dialSMTP connects net/smtp's client and says EHLO (and STARTTLS).
func (h *harness) dialSMTP(addr string, mode dialMode) *smtp.Client {
	h.t.Helper()
	c, err := h.dialSMTPErr(addr, mode)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// dialSMTPErr is dialSMTP for other goroutines than the test's.
func (h *harness) dialSMTPErr(addr string, mode dialMode) (*smtp.Client, error) {
	var conn net.Conn
	var err error
	if mode == implicit {
		conn, err = tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, h.clientTLS)
	} else {
		conn, err = net.DialTimeout("tcp", addr, 5*time.Second)
	}
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	c, err := smtp.NewClient(conn, "127.0.0.1")
	if err != nil {
		conn.Close()
		return nil, err
	}
	h.t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.example"); err != nil {
		return nil, err
	}
	if mode == startTLS {
		if err := c.StartTLS(h.clientTLS); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// send runs one transaction with net/smtp.
func send(c *smtp.Client, from string, to []string, body string) error {
	if err := c.Mail(from); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, body); err != nil {
		return err
	}
	return w.Close()
}

// code returns the SMTP reply code carried by err, 0 if none.
func code(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

// loginAuth is the client side of SASL LOGIN (draft-murchison-sasl-login),
// which net/smtp lacks.
type loginAuth struct{ user, pass string }

func (a *loginAuth) Start(*smtp.ServerInfo) (string, []byte, error) { return "LOGIN", nil, nil }

func (a *loginAuth) Next(from []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	switch string(from) {
	case "Username:":
		return []byte(a.user), nil
	case "Password:":
		return []byte(a.pass), nil
	}
	return nil, fmt.Errorf("unexpected LOGIN challenge %q", from)
}

// scramAuth is the client side of SCRAM-SHA-256 (RFC 7677) with
// xdg-go/scram; it checks the server's signature too.
type scramAuth struct {
	user, pass string
	conv       *scram.ClientConversation
}

func (a *scramAuth) Start(*smtp.ServerInfo) (string, []byte, error) {
	client, err := scram.SHA256.NewClient(a.user, a.pass, "")
	if err != nil {
		return "", nil, err
	}
	a.conv = client.NewConversation()
	first, err := a.conv.Step("")
	return "SCRAM-SHA-256", []byte(first), err
}

func (a *scramAuth) Next(from []byte, more bool) ([]byte, error) {
	if !more {
		if !a.conv.Valid() {
			return nil, errors.New("server signature not verified")
		}
		return nil, nil
	}
	resp, err := a.conv.Step(string(from))
	return []byte(resp), err // never nil: net/smtp stops on a nil response
}
