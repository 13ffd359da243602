package pgtest

import (
	"context"
	"io"
	"os"
	"os/exec"
)

// watchdogScript stops the server and removes its directory ($2, with
// pg_ctl $1) once its standard input ends without the line "done": when
// the test binary dies without its cleanups (a panic, the -timeout alarm,
// a signal), the kernel closes the pipe's other end for it. It repeats
// close's two steps: pg_ctl stop, then a kill of the PID in
// postmaster.pid, which is there only if the stop failed.
const watchdogScript = `read -r line
[ "$line" = done ] && exit 0
"$1" -D "$2/data" -m immediate -w -t 30 stop >/dev/null 2>&1
{ read -r pid < "$2/data/postmaster.pid"; } 2>/dev/null && kill -9 "$pid" 2>/dev/null
rm -rf "$2"
`

// watchdog is a shell, in a session of its own (a ^C to the tests does not
// reach it), holding the read end of a pipe whose write end only the test
// binary has.
type watchdog struct {
	cmd *exec.Cmd
	w   *os.File
}

// startWatchdog starts the watchdog of s, which must have its directory
// (and nothing running in it yet).
func startWatchdog(s *Server) (*watchdog, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	cmd := s.command(context.Background(), "/bin/sh", "-c", watchdogScript, "pgtest-watchdog", s.progs.pgCtl, s.base)
	cmd.Stdin = r
	cmd.SysProcAttr.Setsid = true
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, err
	}
	return &watchdog{cmd: cmd, w: w}, nil
}

// dismiss ends the watchdog without its doing anything.
func (d *watchdog) dismiss() error {
	_, err := io.WriteString(d.w, "done\n")
	d.w.Close()
	if werr := d.cmd.Wait(); err == nil {
		err = werr
	}
	return err
}

// release ends the watchdog's wait, so that it does its work (stop the
// server, remove the directory), without waiting for it: for when close
// could not.
func (d *watchdog) release() {
	d.w.Close()
	go d.cmd.Wait()
}
