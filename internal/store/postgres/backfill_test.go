package postgres

import (
	"context"
	"strings"
	"testing"

	"postel/internal/store"
	"postel/internal/store/storetest"
)

// TestBackfillMetaReparses: migration 10 records the "meta" task over the
// messages stored before it, and the backfill parses each again as
// delivery does today (prefix and body): ENVELOPE gets the source route
// (RFC 3501 §7.4.2 addr-adl), the Cc search column loses the comments of
// its angle-addr, the structure is today's, and has_nul becomes known,
// for every message sharing the blob.
//
// "after a copy": the batches are done (done = upto) but messages are still
// unknown, as a copy made while a batch was written leaves them: the last
// pass over the unknown messages writes them.
func TestBackfillMetaReparses(t *testing.T) {
	t.Run("from the start", func(t *testing.T) { testBackfillMeta(t, false) })
	t.Run("after a copy", func(t *testing.T) { testBackfillMeta(t, true) })
}

func testBackfillMeta(t *testing.T, batchesDone bool) {
	ctx := context.Background()
	st := open(t, newDB(t))
	<-st.backfillDone
	alice := storetest.Account(t, st, "alice@example.org")
	bob := storetest.Account(t, st, "bob@example.org")
	deliverRaw := func(prefix, body string, targets ...store.Target) []store.Delivered {
		meta, err := fixtureMeta(prefix, body)
		if err != nil {
			t.Fatal(err)
		}
		out, err := st.Deliver(ctx, &store.Delivery{Spool: storetest.Spool(t, st, body), Prefix: []byte(prefix), Meta: meta, Targets: targets})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	route := deliverRaw(storetest.StaleRoutePrefix, storetest.StaleRouteBody, store.Target{AccountID: alice.ID}, store.Target{AccountID: bob.ID})
	nul := deliverRaw("", storetest.StaleNULBody, store.Target{AccountID: alice.ID})

	// What the parser before source routes and CFWS in angle-addrs
	// stored, with the structure of another message standing for an
	// older builder's, and has_nul NULL, as before migration 9.
	want, err := fixtureMeta(storetest.StaleRoutePrefix, storetest.StaleRouteBody)
	if err != nil {
		t.Fatal(err)
	}
	nulMeta, err := fixtureMeta("", storetest.StaleNULBody)
	if err != nil {
		t.Fatal(err)
	}
	old, err := storetest.StaleEnvelope(want.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.pool.Exec(ctx, `UPDATE messages SET envelope = $1, structure = $2, hdr_subject = '',
		hdr_cc = $4, has_nul = NULL WHERE id = ANY($3)`,
		old, nulMeta.Structure, []int64{route[0].MessageID, route[1].MessageID}, storetest.StaleCc); err != nil {
		t.Fatal(err)
	}
	if _, err := st.pool.Exec(ctx, `UPDATE messages SET has_nul = NULL WHERE id = $1`, nul[0].MessageID); err != nil {
		t.Fatal(err)
	}
	// The migration's own statement records the task.
	migration := migrations[9]
	insert := migration[strings.Index(migration, "INSERT INTO backfill"):]
	if _, err := st.pool.Exec(ctx, insert); err != nil {
		t.Fatal(err)
	}
	var done, upto, nulBlob int64
	if err := st.pool.QueryRow(ctx, `SELECT blob_id FROM messages WHERE id = $1`, nul[0].MessageID).Scan(&nulBlob); err != nil {
		t.Fatal(err)
	}
	if err := st.pool.QueryRow(ctx, `SELECT done, upto FROM backfill WHERE task = 'meta'`).Scan(&done, &upto); err != nil || done != 0 || upto != nulBlob {
		t.Fatalf("meta task: done %d upto %d, %v; want 0, %d", done, upto, err, nulBlob)
	}
	if batchesDone {
		if _, err := st.pool.Exec(ctx, `UPDATE backfill SET done = upto WHERE task = 'meta'`); err != nil {
			t.Fatal(err)
		}
	}

	if err := st.Backfill(ctx); err != nil {
		t.Fatal(err)
	}
	var pending int
	if err := st.pool.QueryRow(ctx, `SELECT COUNT(*) FROM backfill`).Scan(&pending); err != nil || pending != 0 {
		t.Errorf("backfill tasks left: %d, %v", pending, err)
	}
	for i, d := range route {
		acct := alice.ID
		if i == 1 {
			acct = bob.ID
		}
		metas, err := st.MessageMetas(ctx, acct, d.MailboxID, []uint32{d.UID})
		if err != nil || len(metas) != 1 {
			t.Fatalf("MessageMetas: %v, %v", metas, err)
		}
		storetest.CheckUnstale(t, i, metas[d.UID], want)
		if n := msgNUL(t, st, acct, d); n != store.NULNone {
			t.Errorf("message %d: NUL %d after the backfill, want NULNone", i, n)
		}
	}
	if n := msgNUL(t, st, alice.ID, nul[0]); n != store.NULSome {
		t.Errorf("NUL message: NUL %d after the backfill, want NULSome", n)
	}
}

// msgNUL is store.Message.NUL of a delivered message.
func msgNUL(t *testing.T, st *Store, acct int64, d store.Delivered) store.NUL {
	t.Helper()
	msgs, err := st.Messages(context.Background(), acct, d.MailboxID, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if m.UID == d.UID {
			return m.NUL
		}
	}
	t.Fatalf("no message UID %d", d.UID)
	return 0
}
