package main

import (
	"slices"
	"strings"
	"testing"

	"postel/internal/admin"
)

// TestAdminCommandsMatch: in the groups of internal/admin's commands
// (user, domain, ...), the CLI's commands and admin's table name the same
// commands, so that none is unreachable or calls a name the server does
// not know. Other groups (serve, config, version) run in the CLI alone.
func TestAdminCommandsMatch(t *testing.T) {
	known := admin.Commands()
	groups := map[string]bool{}
	for _, name := range known {
		groups[strings.Fields(name)[0]] = true
	}
	var cli []string
	for _, c := range commands {
		if !groups[c.group()] {
			continue
		}
		cli = append(cli, c.name)
		if !slices.Contains(known, c.name) {
			t.Errorf("postel %s has no command in internal/admin", c.name)
		}
	}
	for _, name := range known {
		if !slices.Contains(cli, name) {
			t.Errorf("internal/admin's %q has no CLI command", name)
		}
	}
	if len(cli) < 30 {
		t.Fatalf("only %d admin commands in the CLI: %v", len(cli), cli)
	}
}
