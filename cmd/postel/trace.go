package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/signal"
	"strings"
	"syscall"

	"postel/internal/control"
	"postel/internal/trace"
)

// runTrace prints, as they happen, what clients and the running server
// say in the sessions of the accounts or from the addresses given:
// through the control socket, until Ctrl-C or the server stops. Unlike
// the other admin commands it needs the running server (the sessions are
// there), so it is not in internal/admin's table, which also runs on the
// store alone.
func runTrace(e *env, args []string) error {
	targets, err := e.parse(args, 1, -1)
	if err != nil {
		return err
	}
	if _, err := trace.ParseFilter(targets); err != nil {
		return usageError{strings.TrimPrefix(err.Error(), "trace: ")}
	}
	dir, err := e.dataDirPath()
	if err != nil {
		return err
	}
	c, err := control.Dial(dir)
	if errors.Is(err, control.ErrNoServer) {
		return fmt.Errorf("no server runs on %s: traces come from the running server's sessions", dir)
	} else if err != nil {
		return err
	}
	defer c.Close()
	ctx, stop := signal.NotifyContext(e.ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err = c.Stream(ctx, "trace", map[string]any{"targets": targets}, func(raw json.RawMessage) error {
		var ev trace.Event
		if err := json.Unmarshal(raw, &ev); err != nil {
			return fmt.Errorf("malformed trace line: %w", err)
		}
		_, err := fmt.Fprintln(e.stdout, trace.Format(ev))
		return err
	})
	switch {
	case ctx.Err() != nil:
		return nil // Ctrl-C: the normal end
	case errors.Is(err, control.ErrStreamEnded):
		fmt.Fprintln(e.stderr, "postel trace: the server stopped")
		return nil
	}
	return err
}
