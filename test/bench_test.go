package test

import (
	"crypto/tls"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"postel/internal/testutil/pgtest"
)

// Benchmarks of the built server, by store: SQLite (one node), PostgreSQL
// with one node, and with two nodes on one database, mail spread over
// both. Run with
//
//	go test -run '^$' -bench 'Nodes' -benchtime 2000x ./test/
//
// Every 250 is a durable commit; FETCH reads whole 4 KiB bodies.

// benchNodes starts the nodes of a setup.
func benchNodes(b *testing.B, setup string) []*instance {
	var nodes []*instance
	switch setup {
	case "sqlite":
		in := newInstance(b, "")
		in.setup()
		in.start()
		nodes = []*instance{in}
	case "postgres-1", "postgres-2":
		dsn := pgtest.Shared(b).NewDatabase(b)
		n := 1
		if setup == "postgres-2" {
			n = 2
		}
		for i := range n {
			in := newNode(b, dsn, "")
			if i == 0 {
				in.setup()
			}
			in.start()
			nodes = append(nodes, in)
		}
	}
	return nodes
}

// benchMessage is a 4 KiB message to alice.
func benchMessage(i int) string {
	head := fmt.Sprintf("From: x@remote.example\r\nTo: alice@example.org\r\nSubject: bench %d\r\n\r\n", i)
	line := strings.Repeat("0123456789abcdef", 4) + "\r\n"
	return head + strings.Repeat(line, (4096-len(head))/len(line))
}

func BenchmarkNodesDeliver(b *testing.B) {
	for _, setup := range []string{"sqlite", "postgres-1", "postgres-2"} {
		b.Run(setup, func(b *testing.B) {
			nodes := benchNodes(b, setup)
			var next atomic.Int64
			b.SetParallelism(10) // 10 × GOMAXPROCS senders, spread over the nodes
			b.SetBytes(4096)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				node := nodes[int(next.Add(1))%len(nodes)]
				s := dialSMTP(b, node.ports["smtp"], false)
				s.cmd("EHLO client.example", "250")
				for i := 0; pb.Next(); i++ {
					s.cmd("MAIL FROM:<x@remote.example>", "250")
					s.cmd("RCPT TO:<alice@example.org>", "250")
					s.data(benchMessage(i), "250")
				}
				s.cmd("QUIT", "221")
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

func BenchmarkNodesFetch(b *testing.B) {
	const stored = 200
	for _, setup := range []string{"sqlite", "postgres-1", "postgres-2"} {
		b.Run(setup, func(b *testing.B) {
			nodes := benchNodes(b, setup)
			s := dialSMTP(b, nodes[0].ports["smtp"], false)
			s.cmd("EHLO client.example", "250")
			for i := range stored {
				s.cmd("MAIL FROM:<x@remote.example>", "250")
				s.cmd("RCPT TO:<alice@example.org>", "250")
				s.data(benchMessage(i), "250")
			}
			s.cmd("QUIT", "221")
			var next atomic.Int64
			b.SetParallelism(2)
			b.SetBytes(4096)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				node := nodes[int(next.Add(1))%len(nodes)]
				c, err := imapclient.DialTLS(node.ports["imaps"], &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
				if err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				if err := c.Login("alice@example.org", alicePassword).Wait(); err != nil {
					b.Error(err)
					return
				}
				if _, err := c.Select("INBOX", nil).Wait(); err != nil {
					b.Error(err)
					return
				}
				body := []*imap.FetchItemBodySection{{Peek: true}}
				for i := 0; pb.Next(); i++ {
					uid := imap.UID(i%stored + 1)
					msgs, err := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{BodySection: body}).Collect()
					if err != nil || len(msgs) != 1 {
						b.Errorf("UID FETCH %d: %v, %d messages", uid, err, len(msgs))
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "fetches/s")
		})
	}
}
