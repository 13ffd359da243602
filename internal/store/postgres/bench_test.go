package postgres

import (
	"fmt"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"postel/internal/store"
)

// benchStores opens n stores ("nodes") on one new database.
func benchStores(b *testing.B, n int) []*Store {
	b.Helper()
	dsn := newDB(b)
	out := make([]*Store, n)
	for i := range out {
		out[i] = open(b, dsn)
	}
	return out
}

// benchAccounts creates n accounts.
func benchAccounts(b *testing.B, st *Store, n int) []int64 {
	b.Helper()
	if err := st.AddDomain(ctx, "example.org"); err != nil {
		b.Fatal(err)
	}
	ids := make([]int64, n)
	for i := range ids {
		a, err := st.CreateAccount(ctx, fmt.Sprintf("user%d@example.org", i), store.Credentials{})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = a.ID
	}
	return ids
}

func benchBody() []byte {
	body := make([]byte, 4096)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}
	return body
}

func deliverOne(b *testing.B, st *Store, body []byte, acct int64) {
	sp, err := st.NewSpool()
	if err != nil {
		b.Error(err)
		return
	}
	sp.Write(body)
	if err := sp.Finish(); err != nil {
		b.Error(err)
		return
	}
	if _, err := st.Deliver(ctx, &store.Delivery{Spool: sp, Targets: []store.Target{{AccountID: acct}}}); err != nil {
		b.Error(err)
	}
}

// benchDeliver delivers 4 KiB messages: sequentially (parallel 0) or
// from parallel×GOMAXPROCS senders spread over the stores, into one
// account or spread over several (an account's writes are serialized by
// its lock, different accounts' are not).
func benchDeliver(b *testing.B, stores, parallel, accounts int) {
	sts := benchStores(b, stores)
	ids := benchAccounts(b, sts[0], accounts)
	body := benchBody()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	if parallel == 0 {
		for i := 0; b.Loop(); i++ {
			deliverOne(b, sts[i%stores], body, ids[i%accounts])
		}
	} else {
		var next atomic.Int64
		b.SetParallelism(parallel)
		b.RunParallel(func(pb *testing.PB) {
			me := int(next.Add(1))
			st, acct := sts[me%stores], ids[me%accounts]
			for pb.Next() {
				deliverOne(b, st, body, acct)
			}
		})
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkDeliver: durable delivery of 4 KiB messages through one store
// and through two on one database.
func BenchmarkDeliver(b *testing.B) {
	for _, stores := range []int{1, 2} {
		b.Run(fmt.Sprintf("stores=%d/sequential", stores), func(b *testing.B) { benchDeliver(b, stores, 0, 1) })
		for _, p := range []int{1, 20} {
			for _, accounts := range []int{1, 64} {
				b.Run(fmt.Sprintf("stores=%d/senders=%dxGOMAXPROCS/accounts=%d", stores, p, accounts), func(b *testing.B) {
					benchDeliver(b, stores, p, accounts)
				})
			}
		}
	}
}

// benchMailbox fills one INBOX with n messages and returns its account
// and mailbox.
func benchMailbox(b *testing.B, st *Store, n int) (int64, int64) {
	b.Helper()
	acct := benchAccounts(b, st, 1)[0]
	body := benchBody()
	for range n {
		deliverOne(b, st, body, acct)
	}
	mb, err := st.Mailbox(ctx, acct, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	return acct, mb.ID
}

// BenchmarkMessages lists a mailbox of 1000 messages (what SELECT and a
// resync read), from one or two stores in parallel.
func BenchmarkMessages(b *testing.B) {
	for _, stores := range []int{1, 2} {
		b.Run(fmt.Sprintf("stores=%d", stores), func(b *testing.B) {
			sts := benchStores(b, stores)
			acct, mb := benchMailbox(b, sts[0], 1000)
			var next atomic.Int64
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				st := sts[int(next.Add(1))%stores]
				for pb.Next() {
					msgs, err := st.Messages(ctx, acct, mb, 0)
					if err != nil || len(msgs) != 1000 {
						b.Errorf("%d messages, %v", len(msgs), err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkOpenMessage opens and reads whole 4 KiB messages at random out
// of 1000, and (size=3MiB) one message of three chunks, from one or two
// stores in parallel.
func BenchmarkOpenMessage(b *testing.B) {
	for _, stores := range []int{1, 2} {
		b.Run(fmt.Sprintf("stores=%d/size=4KiB", stores), func(b *testing.B) {
			sts := benchStores(b, stores)
			acct, mb := benchMailbox(b, sts[0], 1000)
			benchOpen(b, sts, acct, mb, 1000, 4096)
		})
		b.Run(fmt.Sprintf("stores=%d/size=3MiB", stores), func(b *testing.B) {
			sts := benchStores(b, stores)
			acct := benchAccounts(b, sts[0], 1)[0]
			big := make([]byte, 3<<20)
			for i := range big {
				big[i] = 'a' + byte(i%26)
			}
			deliverOne(b, sts[0], big, acct)
			mb, err := sts[0].Mailbox(ctx, acct, "INBOX")
			if err != nil {
				b.Fatal(err)
			}
			benchOpen(b, sts, acct, mb.ID, 1, int64(len(big)))
		})
	}
}

func benchOpen(b *testing.B, sts []*Store, acct, mb int64, n int, size int64) {
	var next atomic.Int64
	b.SetBytes(size)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		st := sts[int(next.Add(1))%len(sts)]
		buf := make([]byte, 64<<10)
		for pb.Next() {
			r, err := st.OpenMessage(ctx, acct, mb, uint32(1+rand.IntN(n)))
			if err != nil {
				b.Error(err)
				return
			}
			got, err := io.CopyBuffer(io.Discard, r, buf)
			r.Close()
			if err != nil || got != size {
				b.Errorf("read %d bytes, %v", got, err)
				return
			}
		}
	})
}
