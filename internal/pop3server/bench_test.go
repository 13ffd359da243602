package pop3server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"postel/internal/store"
)

// benchMessages is the size of the benchmark's maildrop.
const benchMessages = 10000

// benchBody is a 4 KiB message with a dot line to stuff.
var benchBody = func() string {
	head := "From: bench@remote.net\r\nTo: alice@example.org\r\nSubject: benchmark\r\n" +
		"Message-ID: <bench@remote.net>\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\n\r\n.dot\r\n"
	line := strings.Repeat("0123456789abcdef", 4) + "\r\n" // 66 octets
	body := strings.Repeat(line, (4096-len(head))/len(line))
	return head + body + strings.Repeat("x", 4096-len(head)-len(body)-2) + "\r\n"
}()

// fillMaildrop delivers benchMessages copies of benchBody to alice's INBOX,
// in batches of one DeliverAll each.
func (h *harness) fillMaildrop(b *testing.B) {
	const batch = 500
	ctx := context.Background()
	prefix := []byte("Received: from bench by pop.example.org\r\n")
	for done := 0; done < benchMessages; done += batch {
		ds := make([]*store.Delivery, batch)
		for i := range ds {
			sp, err := h.st.NewSpool()
			if err != nil {
				b.Fatal(err)
			}
			io.WriteString(sp, benchBody)
			if err := sp.Finish(); err != nil {
				b.Fatal(err)
			}
			ds[i] = &store.Delivery{Spool: sp, Prefix: prefix,
				Meta:    store.MessageMeta{Envelope: []byte("{}"), Structure: []byte("{}")},
				Targets: []store.Target{{AccountID: h.alice.ID}}}
		}
		if _, err := h.st.DeliverAll(ctx, ds); err != nil {
			b.Fatal(err)
		}
	}
}

// readReply reads one multi-line reply and returns its octets, status
// line included.
func readReply(br *bufio.Reader) (int64, error) {
	status, err := br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if !bytes.HasPrefix(status, []byte("+OK")) {
		return 0, fmt.Errorf("reply %q", status)
	}
	n := int64(len(status))
	for {
		l, err := br.ReadSlice('\n')
		n += int64(len(l))
		if err != nil {
			return n, err
		}
		if string(l) == ".\r\n" {
			return n, nil
		}
	}
}

// BenchmarkRetr measures RETR over real TCP from a 10,000-message maildrop
// in the SQLite store: one command at a time, and pipelined by 100
// (RFC 2449 §6.6), as fetchmail and other downloaders can do. Each RETR
// reads its message twice: once for the exact size of the +OK line, once
// to send it.
func BenchmarkRetr(b *testing.B) {
	h := newHarnessLog(b, io.Discard)
	start := time.Now()
	h.fillMaildrop(b)
	b.Logf("maildrop of %d messages filled in %v", benchMessages, time.Since(start).Round(time.Millisecond))
	size := int64(len(benchBody) + len("Received: from bench by pop.example.org\r\n"))

	for _, depth := range []int{1, 100} {
		b.Run("pipeline"+strconv.Itoa(depth), func(b *testing.B) {
			r := h.login()
			br := bufio.NewReaderSize(r.c, 64<<10)
			r.c.SetDeadline(time.Now().Add(10 * time.Minute))
			b.SetBytes(size)
			b.ResetTimer()
			var cmds bytes.Buffer
			for i := 0; i < b.N; i += depth {
				cmds.Reset()
				k := min(depth, b.N-i)
				for j := range k {
					fmt.Fprintf(&cmds, "RETR %d\r\n", (i+j)%benchMessages+1)
				}
				if _, err := r.c.Write(cmds.Bytes()); err != nil {
					b.Fatal(err)
				}
				for range k {
					if _, err := readReply(br); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			io.WriteString(r.c, "QUIT\r\n")
			r.br = br
			r.line()
		})
	}
}
