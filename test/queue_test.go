package test

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestQueueCrashDuringDelivery SIGKILLs the server during a delivery
// attempt and restarts it. Killed before the remote accepted the data, the
// message is delivered exactly once. Killed after the remote has the whole
// message but before its 250 reached us, it is delivered twice: delivery
// is at least once (RFC 5321 §6.1 leaves this window to every MTA; the
// remote's reply is the only proof of acceptance, and it never came).
func TestQueueCrashDuringDelivery(t *testing.T) {
	for _, c := range []struct {
		name      string
		afterBody bool
		want      int
	}{
		{"before the data", false, 1},
		{"after the final dot", true, 2},
	} {
		t.Run(c.name, func(t *testing.T) { queueCrash(t, c.afterBody, c.want) })
	}
}

func queueCrash(t *testing.T, afterBody bool, want int) {
	rx := newFakeMX(t)
	// Killed when the remote is stalling: before its 354, or after it has
	// read the final dot (and before its 250).
	hold, arrived := holdBefore354, rx.atData
	if afterBody {
		hold, arrived = holdAfterDot, rx.atDot
	}
	rx.holdData(hold)
	in := newInstance(t, rx.config(t, "lease = \"2s\"\nretry_base = \"1s\"\npoll_interval = \"500ms\"\n"))
	in.setup()
	in.start()
	in.submit(t, "survives a crash")
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("the queue never got that far in its delivery")
	}
	in.stop(syscall.SIGKILL)
	killed := rx.accepted() // the connections of the killed server
	rx.release(true)
	in.start()
	// Done when the entry has left the queue (the new server's copy was
	// accepted, and no further attempt can start) and the killed server's
	// connections have ended (the remote took or dropped what they sent).
	deadline := time.Now().Add(30 * time.Second)
	for len(in.queue()) > 0 || !rx.endedFirst(killed) {
		if time.Now().After(deadline) {
			t.Fatalf("after the restart: queue %+v, killed connections ended %v", in.queue(), rx.endedFirst(killed))
		}
		time.Sleep(100 * time.Millisecond)
	}
	got := rx.messages()
	if len(got) != want {
		t.Fatalf("remote accepted %d copies, want %d", len(got), want)
	}
	for _, m := range got {
		if !strings.Contains(m, "Subject: survives a crash") || !strings.HasPrefix(m, "Received: ") || strings.Contains(m, "Return-Path:") {
			t.Fatalf("relayed message %q", m)
		}
	}
	if n := len(in.messages("INBOX")); n != 0 {
		t.Fatalf("alice got %d messages (a bounce?)", n)
	}
}
