package imapserver

import (
	"bytes"
	"strconv"
	"time"
)

// response reads one whole response (an untagged or tagged line with the
// literals and literal8s it announces) and returns its octets, CRLFs
// included, literals unchanged.
func (r *raw) response() []byte {
	r.t.Helper()
	var out []byte
	for {
		r.c.SetReadDeadline(time.Now().Add(20 * time.Second))
		l, err := r.br.ReadBytes('\n')
		out = append(out, l...)
		if err != nil {
			r.t.Fatalf("read: %v (got %q)", err, out)
		}
		n, ok := literalSize(l)
		if !ok {
			return out
		}
		buf := make([]byte, n)
		if _, err := ioReadFull(r, buf); err != nil {
			r.t.Fatalf("read literal: %v", err)
		}
		out = append(out, buf...)
	}
}

// responses reads the responses up to the tagged one with tag, that one last.
func (r *raw) responses(tag string) [][]byte {
	r.t.Helper()
	var out [][]byte
	for {
		resp := r.response()
		out = append(out, resp)
		if bytes.HasPrefix(resp, []byte(tag+" ")) {
			return out
		}
	}
}

func ioReadFull(r *raw, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.br.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// literalSize returns n when the line ends with "{n}" CRLF or "~{n}" CRLF.
func literalSize(l []byte) (int, bool) {
	l = bytes.TrimSuffix(l, []byte("\r\n"))
	if !bytes.HasSuffix(l, []byte("}")) {
		return 0, false
	}
	i := bytes.LastIndexByte(l, '{')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(string(l[i+1 : len(l)-1]))
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}
