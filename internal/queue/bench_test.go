package queue

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkQueueThroughput measures delivery from a full queue to a local
// server that accepts everything: messages per second, to 1 destination
// domain and to 20 (each with its own MX host, so 20 connection pools).
// Queueing is not timed. Run with e.g. -benchtime=1000x.
func BenchmarkQueueThroughput(b *testing.B) {
	for _, domains := range []int{1, 20} {
		b.Run(fmt.Sprintf("domains=%d", domains), func(b *testing.B) {
			e := newEnv(b)
			f := newFakeMX(b, nil)
			for d := range domains {
				e.dns.Add(fmt.Sprintf("d%d.example. 300 IN MX 10 mx%d.example.", d, d),
					fmt.Sprintf("mx%d.example. 300 IN A 127.0.1.%d", d, d+1))
				e.route(fmt.Sprintf("127.0.1.%d", d+1), f.addr)
			}
			q := e.queue(func(c *Config) { c.PollInterval = 50 * time.Millisecond })
			for i := range b.N {
				e.enqueue("alice@example.org", rcpts(fmt.Sprintf("user%d@d%d.example", i, i%domains)), testMessage)
			}
			b.ResetTimer()
			start := time.Now()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error)
			go func() { done <- q.Run(ctx) }()
			for len(f.messages()) < b.N {
				time.Sleep(5 * time.Millisecond)
			}
			// Delivered means recorded: wait for the queue to empty.
			for {
				all, err := e.st.Queue(e.ctx)
				if err != nil {
					b.Fatal(err)
				}
				if len(all) == 0 {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			cancel()
			<-done
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
		})
	}
}
