// Package control is the local control socket of a running Postel, and
// its client: data_dir/control.sock, a Unix socket only the server's own
// user may use, through which the admin commands of cmd/postel run inside
// the server's process (internal/admin) on its live store. What they
// change reaches open sessions at once, and queue commands wake the live
// queue.
//
// Protocol: JSON, one object per line each way; a connection carries any
// number of requests, each answered before the next is read.
//
//	request:  {"command":"user del","args":{"address":"alice@example.org"}}
//	response: {"result":{...}}
//	      or: {"error":{"kind":"not_found","message":"no account alice@example.org"}}
//
// A streaming command (Server.Streams: "trace") answers with any number of
// event lines before its final response, and is the connection's last:
//
//	request:  {"command":"trace","args":{"targets":["alice@example.org"]}}
//	events:   {"event":{...}}
//	response: {"result":null}, or an error as above
//
// The client ends the stream by closing the connection (or sending
// anything); the server ends it when the command returns or the server
// closes, then closes the connection.
//
// Who may connect: the socket lives in the data directory (mode 0700) and
// has mode 0600; on Linux the server also reads the peer's credentials
// (SO_PEERCRED) and answers any user other than its own with an error
// before closing. Only the process holding the data directory's lock
// (postel serve) listens: a socket file left by a server that died is
// removed at start, one that still answers is not.
package control

import (
	"encoding/json"
	"path/filepath"
)

// SocketName is the socket's file name in the data directory.
const SocketName = "control.sock"

// SocketPath is the control socket of the data directory dir.
func SocketPath(dir string) string { return filepath.Join(dir, SocketName) }

// maxPath is the longest socket path a Unix socket address holds
// (sun_path is 108 bytes on Linux, with its terminating NUL).
const maxPath = 107

// MaxLine bounds a request or a response line.
const MaxLine = 4 << 20

// Request is one command for the server.
type Request struct {
	Command string          `json:"command"`
	Args    json.RawMessage `json:"args,omitempty"`
}

// Response is the server's answer to a Request: a result, or an error;
// before them, a streaming command's events.
type Response struct {
	Event  json.RawMessage `json:"event,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *Error          `json:"error,omitempty"`
}

// Error is a command's failure as the socket carries it.
type Error struct {
	// Kind sorts the error (internal/admin's kinds: "not_found",
	// "exists", "in_use", "invalid", "refused"), "internal" for a fault
	// of the server, "denied" for a peer that may not use the socket.
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Message }

// Kinds of Error the control server makes itself.
const (
	KindInternal = "internal"
	KindDenied   = "denied"
	KindProtocol = "protocol"
)
