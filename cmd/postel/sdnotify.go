package main

import (
	"net"
	"os"
)

// sdNotify sends state to the service manager, as sd_notify(3) does: one
// datagram to the unix socket named by $NOTIFY_SOCKET ("@..." for the
// abstract namespace). Without the variable (not under systemd with
// Type=notify) it does nothing. "READY=1" tells that the service is up,
// "STOPPING=1" that it is going down.
func sdNotify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}
