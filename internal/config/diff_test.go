package config

import (
	"slices"
	"testing"
	"time"
)

func TestDiff(t *testing.T) {
	a, b := Default(), Default()
	if d := Diff(a, b); len(d) != 0 {
		t.Fatalf("Diff(Default, Default) = %v", d)
	}
	b.Log.Level = "debug"
	b.Limits.MaxConnections = 10
	b.Inbound.DNSWL = []string{"wl.example"}
	b.ShutdownTimeout = Duration(time.Minute)
	want := []string{"inbound.dnswl", "limits.max_connections", "log.level", "shutdown_timeout"}
	if d := Diff(a, b); !slices.Equal(d, want) {
		t.Errorf("Diff = %v, want %v", d, want)
	}
}
