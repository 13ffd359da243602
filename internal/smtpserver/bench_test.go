package smtpserver

import (
	"context"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
)

// benchBody is a 4 KiB message.
var benchBody = func() string {
	head := "From: bench@remote.net\r\nTo: alice@example.org\r\nSubject: benchmark\r\n" +
		"Message-ID: <bench@remote.net>\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\n\r\n"
	line := strings.Repeat("0123456789abcdef", 4) + "\r\n" // 66 bytes
	body := strings.Repeat(line, (4096-len(head))/len(line))
	return head + body + strings.Repeat("x", 4096-len(head)-len(body)-2) + "\r\n"
}()

// BenchmarkDeliver measures delivery over real TCP into the SQLite store:
// 4 KiB messages, by one sender and by 20 concurrent senders, each on its
// own connection. Every 250 is a durable commit.
func BenchmarkDeliver(b *testing.B) {
	if len(benchBody) != 4096 {
		b.Fatalf("message is %d bytes", len(benchBody))
	}
	b.Run("sequential", func(b *testing.B) {
		h := newHarness(b)
		c := h.dialSMTP(h.mxAddr, plain)
		b.SetBytes(int64(len(benchBody)))
		b.ResetTimer()
		for range b.N {
			if err := send(c, "bench@remote.net", []string{"alice@example.org"}, benchBody); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		h.checkCount(b, b.N)
	})
	b.Run("parallel20", func(b *testing.B) {
		h := newHarness(b)
		b.SetBytes(int64(len(benchBody)))
		// RunParallel starts parallelism × GOMAXPROCS goroutines.
		b.SetParallelism(max(1, 20/runtime.GOMAXPROCS(0)))
		var senders atomic.Int32
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			senders.Add(1)
			c, err := h.dialSMTPErr(h.mxAddr, plain)
			if err != nil {
				b.Error(err)
				return
			}
			for pb.Next() {
				if err := send(c, "bench@remote.net", []string{"alice@example.org"}, benchBody); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		b.ReportMetric(float64(senders.Load()), "senders")
		h.checkCount(b, b.N)
	})
}

// BenchmarkDeliverChecked is BenchmarkDeliver on an MX that checks every
// message (SPF, DKIM, DMARC, ARC, iprev against a loopback test DNS server
// with no cache, so every message costs its lookups), the sender passing
// SPF and DMARC.
func BenchmarkDeliverChecked(b *testing.B) {
	body := strings.Replace(benchBody, "bench@remote.net", "bench@good.example", 2)
	b.Run("sequential", func(b *testing.B) {
		e := newInboundEnv(b)
		c := e.dialSMTP(e.mxAddr, plain)
		b.SetBytes(int64(len(body)))
		b.ResetTimer()
		for range b.N {
			if err := send(c, "bench@good.example", []string{"alice@example.org"}, body); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		e.checkCount(b, b.N)
	})
	b.Run("parallel20", func(b *testing.B) {
		e := newInboundEnv(b)
		b.SetBytes(int64(len(body)))
		b.SetParallelism(max(1, 20/runtime.GOMAXPROCS(0)))
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			c, err := e.dialSMTPErr(e.mxAddr, plain)
			if err != nil {
				b.Error(err)
				return
			}
			for pb.Next() {
				if err := send(c, "bench@good.example", []string{"alice@example.org"}, body); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		e.checkCount(b, b.N)
	})
}

// checkCount checks that alice's INBOX holds n messages.
func (h *harness) checkCount(b *testing.B, n int) {
	a := h.account("alice@example.org")
	mb, err := h.st.Mailbox(context.Background(), a.ID, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	if mb.Messages != n {
		b.Fatalf("INBOX has %d messages; want %d", mb.Messages, n)
	}
}
