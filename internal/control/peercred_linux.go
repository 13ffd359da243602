package control

import (
	"errors"
	"net"
	"syscall"
)

// errNoPeerCred: the system cannot tell who is at the other end.
var errNoPeerCred = errors.New("control: peer credentials not available")

// peerCred returns the uid and pid of the process at the other end of a
// Unix socket connection (SO_PEERCRED, socket(7)): those of when it
// connected.
func peerCred(c net.Conn) (uid, pid int, err error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return -1, 0, errNoPeerCred
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return -1, 0, err
	}
	var cred *syscall.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return -1, 0, err
	}
	if serr != nil {
		return -1, 0, serr
	}
	return int(cred.Uid), int(cred.Pid), nil
}
