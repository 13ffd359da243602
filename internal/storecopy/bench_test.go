package storecopy

import (
	"fmt"
	"strings"
	"testing"

	"postel/internal/deliver"
	"postel/internal/store"
)

// benchSource is a SQLite store with n messages of about 4 KiB in two
// accounts' INBOXes, delivered in batches.
func benchSource(b *testing.B, n int) store.Store {
	b.Helper()
	st := openSource(b)
	must(b, st.AddDomain(bg, "example.org"))
	var ids []int64
	for _, addr := range []string{"alice@example.org", "bob@example.org"} {
		a, err := st.CreateAccount(bg, addr, store.Credentials{PasswordHash: "h"})
		must(b, err)
		ids = append(ids, a.ID)
	}
	text := strings.Repeat("A line of text of a typical message, quoted and requoted. ", 64)
	const batch = 100
	for done := 0; done < n; done += batch {
		var ds []*store.Delivery
		for i := done; i < min(n, done+batch); i++ {
			sp, err := st.NewSpool()
			must(b, err)
			fmt.Fprintf(sp, "From: s%d@remote.example\r\nTo: x@example.org\r\nSubject: message %d\r\nMessage-ID: <%d@remote.example>\r\n\r\n%s\r\n",
				i, i, i, text)
			must(b, sp.Finish())
			d, err := deliver.Prepare(sp, []byte("Return-Path: <s@remote.example>\r\n"), []store.Target{{AccountID: ids[i%2]}})
			must(b, err)
			ds = append(ds, d)
		}
		_, err := st.DeliverAll(bg, ds)
		must(b, err)
		for _, d := range ds {
			d.Spool.Discard()
		}
	}
	return st
}

// BenchmarkCopy copies 2000 messages from SQLite into a fresh PostgreSQL
// database, verification included.
func BenchmarkCopy(b *testing.B) {
	const n = 2000
	src := benchSource(b, n)
	var bytes int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dst := openTarget(b)
		b.StartTimer()
		rep, err := Copy(bg, src, dst, Options{})
		must(b, err)
		if rep.CopiedMessages != n {
			b.Fatalf("copied %d messages", rep.CopiedMessages)
		}
		bytes = rep.CopiedBytes
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.SetBytes(bytes)
}
