package sqlite

// Upgrades that never lose data. testdata/schema-v<N>/ is a data directory
// as a postel whose newest migration was N left it: postel.db (no -wal or
// -shm needed) and the body files under msg/. Each was made once, by
//
//	go test ./internal/store/sqlite -run TestMakeSchemaFixture -make-fixture=N
//
// and is never made again: it stands for the data directories in the field.
// TestUpgradeFromEveryVersion opens a copy of each with today's code and
// checks, through the store's API, everything fixtureData says it holds.
//
// Adding migration M+1: make the fixture of version M (the newest before
// yours) with the command above, before or after writing the migration, and
// commit it. If the migration brings data, teach writeFixture to write it
// when the schema has it (the fixtures of older versions do not) and the
// checks to expect it from that version on (fixtureSince).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"postel/internal/deliver"
	"postel/internal/message"
	"postel/internal/store"
	"postel/internal/store/storetest"
)

var makeFixture = flag.Int("make-fixture", 0, "make testdata/schema-v`N`: a data directory of schema version N (TestMakeSchemaFixture)")

// fixtureCommand is how to make the fixture of version v.
func fixtureCommand(v int) string {
	return fmt.Sprintf("go test ./internal/store/sqlite -run TestMakeSchemaFixture -make-fixture=%d", v)
}

func fixtureDir(v int) string { return filepath.Join("testdata", fmt.Sprintf("schema-v%d", v)) }

// fixtureSince is the schema version that brought what a fixture holds only
// from then on: the generator checks it against the schema it made, and the
// checks use it to know what a fixture of each version holds.
var fixtureSince = struct {
	fts, sentLog, threadFields, junk, authEpoch, leaseOwner, blobIntents int
}{
	fts:          2,  // messages_fts
	sentLog:      3,  // sent_log
	threadFields: 4,  // messages.hdr_inreplyto, hdr_references
	junk:         5,  // junk_rules, junk_reputation
	authEpoch:    6,  // accounts.auth_epoch
	leaseOwner:   7,  // queue.lease_owner
	blobIntents:  10, // blob_intents
}

// knownGaps are upgrade bugs this test found and that are not fixed yet:
// data that a delivery today would have, which an upgrade from a version
// below the one given leaves missing for the messages stored before. The
// test checks that each is still there (and logs it), so that whoever
// fixes one must delete its line here, and the full check applies again.
// The two it found ("fts": messages stored before migration 2 were not in
// the full-text index; "threads": those stored before migration 4 had no
// In-Reply-To and References) are filled by the backfill of migration 9.
var knownGaps = map[string]int{}

// openGaps are the known gaps that apply to a fixture of version v.
func openGaps(t *testing.T, v int) map[string]bool {
	out := map[string]bool{}
	for gap, since := range knownGaps {
		if v < since {
			t.Logf("known upgrade gap %q applies to version %d (see knownGaps)", gap, v)
			out[gap] = true
		}
	}
	return out
}

// gapNote adds to a failure what a gap predicted.
func gapNote(open bool, gap string) string {
	if !open {
		return ""
	}
	return fmt.Sprintf(" (as known gap %q predicts: if it is fixed, delete it from knownGaps)", gap)
}

// fixtureTime is when the fixtures' data was made: 2026-01-15T00:00:00Z.
const fixtureTime = 1768435200

// The on-disk encoding of system flags in messages.sysflags, written out
// here rather than taken from package store: a fixture keeps the encoding
// of its time, and the test must notice if today's reading differs.
var fixtureFlagBits = map[string]int{`\Seen`: 1, `\Answered`: 2, `\Flagged`: 4, `\Deleted`: 8, `\Draft`: 16}

// fixtureData is everything the fixtures hold, and so what the checks
// expect: one table for both, so they cannot drift apart. The committed
// fixtures were made from it: never change what is here, or they no longer
// match. Data a new migration brings goes on top, written and expected only
// from its version on (fixtureSince).
var fixtureData = struct {
	Domains  []string
	Accounts []fixtureAccount
	Aliases  []store.Alias // sorted as ListAliases returns them
	Blobs    []fixtureBlob
	Queue    []fixtureQueued
}{
	Domains: []string{"example.net", "example.org"},
	Accounts: []fixtureAccount{{
		ID: 1, Address: "alice@example.org",
		Cred: store.Credentials{
			PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$YWxpY2Utc2FsdA$QUxJQ0UtSEFTSC1BTElDRS1IQVNILUFMSUNFLUg",
			SCRAMSHA256:  "YWxpY2Utc2NyYW0,4096,U1RPUkVELUtFWS1BTElDRQ,U0VSVkVSLUtFWS1BTElDRQ",
		},
		Quota: 10 << 20,
		Mailboxes: []fixtureMailbox{
			{ID: 1, Name: "INBOX", UIDValidity: 1768400001, UIDNext: 8, HighestModSeq: 12, Subscribed: true,
				Messages: []fixtureMessage{
					{ID: 1, UID: 1, ModSeq: 9, Flags: []string{`\Seen`}, Blob: 1, Internal: fixtureTime + 9*3600},
					{ID: 2, UID: 2, ModSeq: 12, Flags: []string{`\Answered`, `\Seen`, "$label1"}, Blob: 2, Internal: fixtureTime + 9*3600 + 1200},
					{ID: 5, UID: 5, ModSeq: 6, Blob: 4, Internal: fixtureTime + 10*3600},
					{ID: 10, UID: 7, ModSeq: 8, Flags: []string{`\Flagged`, `\Seen`, "$important", "work"}, Blob: 5, Internal: fixtureTime + 11*3600},
				},
				Expunged: []store.Expunged{{UID: 3, ModSeq: 10}, {UID: 4, ModSeq: 11}, {UID: 6, ModSeq: 10}}},
			{ID: 2, Name: "Sent", Role: store.RoleSent, UIDValidity: 1768400002, UIDNext: 2, HighestModSeq: 2, Subscribed: true,
				Messages: []fixtureMessage{
					{ID: 6, UID: 1, ModSeq: 2, Flags: []string{`\Seen`}, Blob: 6, Internal: fixtureTime + 9*3600 + 1800},
				}},
			{ID: 3, Name: "Drafts", Role: store.RoleDrafts, UIDValidity: 1768400003, UIDNext: 3, HighestModSeq: 4, Subscribed: true,
				Messages: []fixtureMessage{
					{ID: 8, UID: 2, ModSeq: 3, Flags: []string{`\Draft`, `\Seen`}, Blob: 7, Internal: fixtureTime + 12*3600},
				},
				Expunged: []store.Expunged{{UID: 1, ModSeq: 4}}},
			{ID: 4, Name: "Trash", Role: store.RoleTrash, UIDValidity: 1768400004, UIDNext: 2, HighestModSeq: 3, Subscribed: true,
				Messages: []fixtureMessage{
					{ID: 9, UID: 1, ModSeq: 3, Flags: []string{`\Deleted`, `\Seen`}, Blob: 8, Internal: fixtureTime - 17*3600},
				}},
			{ID: 5, Name: "Junk", Role: store.RoleJunk, UIDValidity: 1768400005, UIDNext: 1, HighestModSeq: 1},
			{ID: 6, Name: "Archive", Role: store.RoleArchive, UIDValidity: 1768400006, UIDNext: 1, HighestModSeq: 1, Subscribed: true},
			{ID: 7, Name: "Projects/2026", UIDValidity: 1768400007, UIDNext: 4, HighestModSeq: 5, Subscribed: true,
				Messages: []fixtureMessage{
					// A copy of INBOX 1: the same body file.
					{ID: 11, UID: 3, ModSeq: 5, Flags: []string{`\Seen`, "project"}, Blob: 1, Internal: fixtureTime + 9*3600},
				},
				Expunged: []store.Expunged{{UID: 1, ModSeq: 4}, {UID: 2, ModSeq: 4}}},
		},
		JunkRules: []store.JunkRule{
			{Kind: store.JunkAllow, Pattern: "friend@elsewhere.example"},
			{Kind: store.JunkBlock, Pattern: "spam.example"},
		},
		Reputations: []store.SenderReputation{
			{Sender: "news@lists.example", Spam: 2, Ham: 1, Last: store.MarkSpam},
		},
	}, {
		ID: 2, Address: "bob@example.org", Disabled: true,
		Cred: store.Credentials{
			PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$Ym9iLXNhbHQ$Qk9CLUhBU0gtQk9CLUhBU0gtQk9CLUhBU0gtQk9C",
		},
		Mailboxes: []fixtureMailbox{
			{ID: 8, Name: "INBOX", UIDValidity: 1768400101, UIDNext: 2, HighestModSeq: 2, Subscribed: true,
				Messages: []fixtureMessage{
					{ID: 12, UID: 1, ModSeq: 2, Flags: []string{"$junk"}, Blob: 9, Internal: fixtureTime + 13*3600},
				}},
			{ID: 9, Name: "Sent", Role: store.RoleSent, UIDValidity: 1768400102, UIDNext: 1, HighestModSeq: 1, Subscribed: true},
			{ID: 10, Name: "Drafts", Role: store.RoleDrafts, UIDValidity: 1768400103, UIDNext: 1, HighestModSeq: 1, Subscribed: true},
			{ID: 11, Name: "Trash", Role: store.RoleTrash, UIDValidity: 1768400104, UIDNext: 1, HighestModSeq: 1, Subscribed: true},
			{ID: 12, Name: "Junk", Role: store.RoleJunk, UIDValidity: 1768400105, UIDNext: 1, HighestModSeq: 1, Subscribed: true},
			{ID: 13, Name: "Archive", Role: store.RoleArchive, UIDValidity: 1768400106, UIDNext: 1, HighestModSeq: 1},
			{ID: 14, Name: "Projects/2026", UIDValidity: 1768400107, UIDNext: 1, HighestModSeq: 1},
		},
	}, {
		ID: 3, Address: "carol@example.net", AuthEpoch: 2,
		Cred: store.Credentials{
			PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$Y2Fyb2wtc2FsdA$Q0FST0wtSEFTSC1DQVJPTC1IQVNILUNBUk9MLUg",
			SCRAMSHA256:  "Y2Fyb2wtc2NyYW0,4096,U1RPUkVELUtFWS1DQVJPTA,U0VSVkVSLUtFWS1DQVJPTA",
		},
		Mailboxes: []fixtureMailbox{
			{ID: 15, Name: "INBOX", UIDValidity: 1768400201, UIDNext: 3, HighestModSeq: 4, Subscribed: true,
				Messages: []fixtureMessage{
					{ID: 13, UID: 1, ModSeq: 4, Flags: []string{`\Answered`, `\Seen`, "$mdnsent"}, Blob: 10, Internal: fixtureTime + 14*3600},
					{ID: 14, UID: 2, ModSeq: 3, Blob: 11, Internal: fixtureTime + 15*3600},
				}},
			{ID: 16, Name: "Sent", Role: store.RoleSent, UIDValidity: 1768400202, UIDNext: 1, HighestModSeq: 1, Subscribed: true},
			{ID: 17, Name: "Drafts", Role: store.RoleDrafts, UIDValidity: 1768400203, UIDNext: 1, HighestModSeq: 1, Subscribed: true},
			{ID: 18, Name: "Trash", Role: store.RoleTrash, UIDValidity: 1768400204, UIDNext: 1, HighestModSeq: 1},
			{ID: 19, Name: "Junk", Role: store.RoleJunk, UIDValidity: 1768400205, UIDNext: 1, HighestModSeq: 1, Subscribed: true},
			{ID: 20, Name: "Archive", Role: store.RoleArchive, UIDValidity: 1768400206, UIDNext: 1, HighestModSeq: 1, Subscribed: true},
			{ID: 21, Name: "Projects/2026", UIDValidity: 1768400207, UIDNext: 1, HighestModSeq: 1, Subscribed: true},
		},
	}},
	Aliases: []store.Alias{
		{Address: "@example.net", Targets: []string{"carol@example.net"}},
		{Address: "info@example.org", Targets: []string{"alice@example.org", "bob@example.org"}},
		{Address: "postmaster@example.org", Targets: []string{"alice@example.org"}},
		{Address: "team@example.org", Targets: []string{"dave@remote.example"}},
	},
	Blobs: []fixtureBlob{
		{ID: 1, Word: "marmalade",
			Prefix: "Return-Path: <bob@example.org>\r\nReceived: from mail.example.org by mx.example.org with ESMTPS id f1; Thu, 15 Jan 2026 09:00:00 +0000\r\n",
			Body: crlf(`From: Bob <bob@example.org>
To: Alice <alice@example.org>
Subject: Lunch on Friday
Date: Thu, 15 Jan 2026 08:59:00 +0000
Message-ID: <lunch-1@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Shall we try the marmalade place?
`)},
		{ID: 2, Word: "pineapple",
			Prefix: "Return-Path: <carol@example.net>\r\nReceived: from mail.example.net by mx.example.org with ESMTPS id f2; Thu, 15 Jan 2026 09:20:00 +0000\r\n",
			Body: crlf(`From: Carol <carol@example.net>
To: alice@example.org
Cc: Bob <bob@example.org>
Subject: Re: Quarterly report
Date: Thu, 15 Jan 2026 10:15:00 +0100
Message-ID: <re-report@example.net>
In-Reply-To: <report-1@example.org>
References: <report-0@example.org> <report-1@example.org>

Numbers look fine, except the pineapple budget.
`)},
		{ID: 3, Gone: true},
		{ID: 4, Word: "zucchini",
			Prefix: "Return-Path: <juergen@elsewhere.example>\r\nReceived: from mx.elsewhere.example by mx.example.org with ESMTPS id f4; Thu, 15 Jan 2026 10:00:00 +0000\r\n",
			Body: crlf(`From: =?UTF-8?Q?J=C3=BCrgen?= <juergen@elsewhere.example>
To: alice@example.org
Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_M=C3=BCnchen?=
Date: Wed, 14 Jan 2026 18:30:00 +0100
Message-ID: <gruesse@elsewhere.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Sch=C3=B6ne Gr=C3=BC=C3=9Fe, und danke f=C3=BCr die Zucchini!
`)},
		{ID: 5, Word: "xylophone",
			Prefix: "Return-Path: <dave@remote.example>\r\nReceived: from mx.remote.example by mx.example.org with ESMTPS id f5; Thu, 15 Jan 2026 11:00:00 +0000\r\n",
			Body: crlf(`From: Dave <dave@remote.example>
To: alice@example.org
Subject: Slides
Date: Tue, 13 Jan 2026 16:00:00 -0500
Message-ID: <slides@remote.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain; charset=us-ascii

The xylophone slides are attached.
--b1
Content-Type: application/pdf; name="slides.pdf"
Content-Disposition: attachment; filename="slides.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQKJcfsj6IKCg==
--b1--
`)},
		// Submitted by alice: her Sent copy and the queue entry share it.
		{ID: 6, Word: "walnut",
			Prefix: "Return-Path: <alice@example.org>\r\nReceived: from [192.0.2.10] by mx.example.org with ESMTPSA id s6; Thu, 15 Jan 2026 09:30:00 +0000\r\n",
			Body: crlf(`From: Alice <alice@example.org>
To: dave@remote.example, erin@other.example
Bcc: archive@example.org
Subject: Quarterly report
Date: Thu, 15 Jan 2026 09:30:00 +0000
Message-ID: <report-1@example.org>
In-Reply-To: <report-0@example.org>
References: <report-0@example.org>

Attached in spirit: the walnut figures.
`)},
		// A draft by APPEND: no prefix, no Date, no Message-ID.
		{ID: 7, Word: "quinoa",
			Body: crlf(`From: Alice <alice@example.org>
To: bob@example.org
Subject: Draft: recipe

Quinoa, two cups; water, four.
`)},
		{ID: 8, Word: "walrus",
			Prefix: "Return-Path: <bounces@lists.example>\r\nReceived: from lists.example by mx.example.org with ESMTPS id f8; Mon, 12 Jan 2026 07:00:01 +0000\r\n",
			Body: crlf(`From: News <news@lists.example>
To: alice@example.org
Subject: Weekly news
Date: Mon, 12 Jan 2026 07:00:00 +0000
Message-ID: <n-42@lists.example>
List-Id: <weekly.lists.example>

All about the walrus this week.
`)},
		{ID: 9, Word: "kangaroo",
			Prefix: "Return-Path: <alice@example.org>\r\nReceived: from [192.0.2.10] by mx.example.org with ESMTPSA id s9; Thu, 15 Jan 2026 13:00:00 +0000\r\n",
			Body: crlf(`From: Alice <alice@example.org>
To: Bob <bob@example.org>
Subject: Welcome back
Date: Thu, 15 Jan 2026 13:00:00 +0000
Message-ID: <welcome@example.org>

The kangaroo says hello.
`)},
		// To the catch-all of example.net.
		{ID: 10, Word: "hedgehog",
			Prefix: "Return-Path: <buyer@shop.example>\r\nReceived: from mx.shop.example by mx.example.org with ESMTP id f10; Thu, 15 Jan 2026 14:00:00 +0000\r\n",
			Body: crlf(`From: buyer@shop.example
To: sales@example.net
Subject: Pricing question
Date: Thu, 15 Jan 2026 14:00:00 +0000
Message-ID: <q-7@shop.example>

How much for the hedgehog edition?
`)},
		{ID: 11, Word: "platypus",
			Prefix: "Return-Path: <bob@example.org>\r\nReceived: from mail.example.org by mx.example.org with ESMTPS id f11; Thu, 15 Jan 2026 15:00:00 +0000\r\n",
			Body: crlf(`From: Bob <bob@example.org>
To: Carol <carol@example.net>
Subject: Photos
Date: Thu, 15 Jan 2026 15:00:00 +0000
Message-ID: <photos@example.org>

The platypus pictures, as promised.
`)},
		{ID: 12, Gone: true},
	},
	Queue: []fixtureQueued{{
		ID: 3, AccountID: 1, From: "alice@example.org", Blob: 6,
		Prefix:  "Received: from [192.0.2.10] by mx.example.org with ESMTPSA id s6; Thu, 15 Jan 2026 09:30:00 +0000\r\n",
		DSNRet:  "HDRS",
		DSNEnv:  "report-1",
		Created: fixtureTime + 9*3600 + 1800, NextAttempt: fixtureTime + 10*3600, Attempts: 1,
		// Leased when the server stopped for the upgrade.
		LeaseOwner: "mx1.example.org/2", LeaseUntil: fixtureTime + 10*3600 + 300,
		Recipients: []store.QueueRcpt{
			{Address: "dave@remote.example", Notify: []string{"FAILURE", "DELAY"}, ORcpt: "rfc822;dave@remote.example",
				Status: "pending", Attempts: 1, LastReply: "451 4.3.0 try again later", LastChange: time.Unix(fixtureTime+9*3600+1801, 0)},
			{Address: "erin@other.example", Status: "delivered", Attempts: 1, LastReply: "250 2.0.0 ok",
				LastChange: time.Unix(fixtureTime+9*3600+1802, 0)},
		},
	}},
}

type fixtureAccount struct {
	ID        int64
	Address   string
	Cred      store.Credentials
	Quota     int64
	Disabled  bool
	AuthEpoch int64 // from fixtureSince.authEpoch
	// Mailboxes are the defaults (store.DefaultMailboxes) and one nested.
	Mailboxes   []fixtureMailbox
	JunkRules   []store.JunkRule         // from fixtureSince.junk; sorted by kind, pattern
	Reputations []store.SenderReputation // from fixtureSince.junk; sorted by sender
}

type fixtureMailbox struct {
	ID            int64
	Name, Role    string
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	Subscribed    bool
	Messages      []fixtureMessage // in UID order
	Expunged      []store.Expunged // in UID order
}

type fixtureMessage struct {
	ID     int64
	UID    uint32
	ModSeq uint64
	// Flags as Message.Flags has them: system flags in store.JoinFlags
	// order, then keywords, lower case and sorted.
	Flags    []string
	Blob     int64 // fixtureBlob.ID; a copy shares its original's
	Internal int64 // Unix seconds; the save date is a minute later
}

// fixtureBlob is one message body file and the prefix of the messages
// using it.
type fixtureBlob struct {
	ID     int64
	Prefix string
	Body   string
	Word   string // found only in this body, for SearchText
	Gone   bool   // expunged: its row was deleted and its file removed
}

type fixtureQueued struct {
	ID, AccountID    int64
	From             string
	Blob             int64
	Prefix           string
	DSNRet, DSNEnv   string
	Created          int64
	NextAttempt      int64
	Attempts         int
	LeaseOwner       string // from fixtureSince.leaseOwner
	LeaseUntil       int64
	Recipients       []store.QueueRcpt // sorted by address
	RequireTLS, UTF8 bool
}

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func fixtureBlobByID(id int64) fixtureBlob {
	for _, b := range fixtureData.Blobs {
		if b.ID == id {
			return b
		}
	}
	panic(fmt.Sprintf("fixture has no blob %d", id))
}

// raw is the message as stored and read: prefix, then body.
func (b fixtureBlob) raw() []byte { return []byte(b.Prefix + b.Body) }

func (m fixtureMessage) size() int64 { return int64(len(fixtureBlobByID(m.Blob).raw())) }

// usage is what the account's messages take: Usage and used_bytes.
func (a fixtureAccount) usage() (bytes, messages int64) {
	for _, mb := range a.Mailboxes {
		for _, m := range mb.Messages {
			bytes += m.size()
			messages++
		}
	}
	return bytes, messages
}

// fixtureMeta is what the delivery path (deliver.parse) stores for a
// message: internal/message's metadata and searchable text of prefix and
// body together.
func fixtureMeta(raw []byte) (store.MessageMeta, error) {
	r := bytes.NewReader(raw)
	parsed, err := message.Parse(r, int64(len(raw)), message.DefaultLimits())
	if err != nil {
		return store.MessageMeta{}, err
	}
	meta, err := parsed.Meta()
	if err != nil {
		return store.MessageMeta{}, err
	}
	meta.HeadersText, meta.BodyText, err = message.ExtractText(r, parsed.Root, deliver.MaxSearchText)
	return meta, err
}

// migrateTo is migrate stopped at version n: the schema that a postel
// whose newest migration was n made.
func migrateTo(ctx context.Context, db *sql.DB, n int) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version INTEGER PRIMARY KEY, applied INTEGER NOT NULL)`); err != nil {
		return err
	}
	for v := 1; v <= n; v++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, applied) VALUES (?, ?)`, v, fixtureTime-86400*int64(n+1-v)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// fixtureWriter inserts rows with the columns the schema has: a column a
// later migration brought is left out of the fixtures made before it.
type fixtureWriter struct {
	ctx  context.Context
	tx   *sql.Tx
	cols map[string]map[string]bool
}

func (w *fixtureWriter) columns(table string) (map[string]bool, error) {
	if c, ok := w.cols[table]; ok {
		return c, nil
	}
	rows, err := w.tx.QueryContext(w.ctx, `SELECT name FROM pragma_table_info(?)`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	c := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		c[name] = true
	}
	w.cols[table] = c
	return c, rows.Err()
}

func (w *fixtureWriter) has(table, column string) bool {
	c, err := w.columns(table)
	if err != nil {
		return false
	}
	if column == "" {
		return len(c) > 0
	}
	return c[column]
}

func (w *fixtureWriter) insert(table string, row map[string]any) error {
	have, err := w.columns(table)
	if err != nil {
		return err
	}
	if len(have) == 0 {
		return fmt.Errorf("no table %s", table)
	}
	var names []string
	var args []any
	for _, name := range slices.Sorted(maps.Keys(row)) {
		if have[name] {
			names = append(names, name)
			args = append(args, row[name])
		}
	}
	q := `INSERT INTO ` + table + ` (` + strings.Join(names, ", ") + `) VALUES (?` + strings.Repeat(", ?", len(names)-1) + `)`
	if _, err := w.tx.ExecContext(w.ctx, q, args...); err != nil {
		return fmt.Errorf("%s: %w", q, err)
	}
	return nil
}

func (w *fixtureWriter) exec(q string, args ...any) error {
	_, err := w.tx.ExecContext(w.ctx, q, args...)
	return err
}

// writeFixture makes in dir (new or empty) a data directory of schema
// version n holding fixtureData, with raw SQL valid at that version.
func writeFixture(ctx context.Context, dir string, n int) error {
	if n < 1 || n > len(migrations) {
		return fmt.Errorf("no schema version %d: there are 1 to %d", n, len(migrations))
	}
	if err := checkFixtureData(); err != nil {
		return err
	}
	path := filepath.Join(dir, "postel.db")
	q := url.Values{"_pragma": {"synchronous(FULL)", "foreign_keys(1)"}}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	// Small pages keep the committed files small (an SQLite file takes at
	// least a page per table and index); nothing in postel depends on the
	// page size. It must come before anything is written, WAL mode too.
	for _, p := range []string{`PRAGMA page_size = 1024`, `PRAGMA journal_mode = WAL`} {
		if _, err := db.ExecContext(ctx, p); err != nil {
			return err
		}
	}
	if err := migrateTo(ctx, db, n); err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	w := &fixtureWriter{ctx: ctx, tx: tx, cols: map[string]map[string]bool{}}
	for _, c := range []struct {
		table, column string
		since         int
	}{
		{"messages_fts", "", fixtureSince.fts},
		{"sent_log", "", fixtureSince.sentLog},
		{"messages", "hdr_inreplyto", fixtureSince.threadFields},
		{"messages", "hdr_references", fixtureSince.threadFields},
		{"junk_rules", "", fixtureSince.junk},
		{"junk_reputation", "", fixtureSince.junk},
		{"accounts", "auth_epoch", fixtureSince.authEpoch},
		{"queue", "lease_owner", fixtureSince.leaseOwner},
		{"blob_intents", "", fixtureSince.blobIntents},
	} {
		if w.has(c.table, c.column) != (n >= c.since) {
			return fmt.Errorf("fixtureSince is wrong: schema version %d has %s %s: %v", n, c.table, c.column, n >= c.since)
		}
	}
	if err := writeFixtureRows(w, n); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	// Everything into postel.db: the fixture is that one file.
	var busy, logged, done int
	if err := db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logged, &done); err != nil {
		return err
	}
	if busy != 0 || logged != done {
		return fmt.Errorf("checkpoint incomplete: busy %d, %d of %d frames", busy, done, logged)
	}
	if err := db.Close(); err != nil {
		return err
	}
	if st, err := os.Stat(path + "-wal"); err == nil && st.Size() > 0 {
		return fmt.Errorf("%s-wal left with %d bytes", path, st.Size())
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	// The body files, where store.FileBlobs keeps them.
	blobs, err := store.NewFileBlobs(dir)
	if err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, "tmp")); err != nil {
		return err
	}
	for _, b := range fixtureData.Blobs {
		if b.Gone {
			continue
		}
		p := blobs.Path(b.ID)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(b.Body), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// writeFixtureRows inserts fixtureData as the store of schema version n
// would have stored it.
func writeFixtureRows(w *fixtureWriter, n int) error {
	d := &fixtureData
	created := int64(fixtureTime - 30*86400)
	for _, name := range d.Domains {
		if err := w.insert("domains", map[string]any{"name": name, "created": created}); err != nil {
			return err
		}
	}
	for _, b := range d.Blobs {
		if err := w.insert("blobs", map[string]any{"id": b.ID, "size": len(b.Body), "created": fixtureTime}); err != nil {
			return err
		}
		if n >= fixtureSince.fts && !b.Gone {
			meta, err := fixtureMeta(b.raw())
			if err != nil {
				return err
			}
			// As deliver does; rowid is not a column insert knows.
			if err := w.exec(`INSERT INTO messages_fts (rowid, headers, body) VALUES (?, ?, ?)`, b.ID, meta.HeadersText, meta.BodyText); err != nil {
				return err
			}
		}
	}
	for _, a := range d.Accounts {
		used, _ := a.usage()
		var last uint32
		for _, mb := range a.Mailboxes {
			last = max(last, mb.UIDValidity)
		}
		if err := w.insert("accounts", map[string]any{
			"id": a.ID, "address": a.Address, "domain": store.DomainOf(a.Address),
			"password_hash": a.Cred.PasswordHash, "scram_sha256": a.Cred.SCRAMSHA256,
			"quota_bytes": a.Quota, "used_bytes": used, "disabled": a.Disabled,
			"uidvalidity_last": last, "created": created + a.ID*3600, "auth_epoch": a.AuthEpoch,
		}); err != nil {
			return err
		}
		for _, mb := range a.Mailboxes {
			if err := w.insert("mailboxes", map[string]any{
				"id": mb.ID, "account_id": a.ID, "name": mb.Name, "uidvalidity": mb.UIDValidity,
				"uidnext": mb.UIDNext, "highest_modseq": mb.HighestModSeq, "special_use": mb.Role, "subscribed": mb.Subscribed,
			}); err != nil {
				return err
			}
			for _, m := range mb.Messages {
				if err := writeFixtureMessage(w, mb.ID, m); err != nil {
					return err
				}
			}
			for _, e := range mb.Expunged {
				if err := w.insert("expunged", map[string]any{"mailbox_id": mb.ID, "uid": e.UID, "modseq": e.ModSeq}); err != nil {
					return err
				}
			}
		}
		if n >= fixtureSince.junk {
			for _, r := range a.JunkRules {
				if err := w.insert("junk_rules", map[string]any{"account_id": a.ID, "pattern": r.Pattern, "kind": r.Kind, "created": fixtureTime}); err != nil {
					return err
				}
			}
			for _, r := range a.Reputations {
				if err := w.insert("junk_reputation", map[string]any{"account_id": a.ID, "sender": r.Sender, "spam": r.Spam, "ham": r.Ham,
					"last": r.Last, "updated": int64(fixtureTime) * int64(time.Second)}); err != nil {
					return err
				}
			}
		}
	}
	for _, al := range d.Aliases {
		for _, t := range al.Targets {
			if err := w.insert("aliases", map[string]any{"address": al.Address, "target": t}); err != nil {
				return err
			}
		}
	}
	for _, q := range d.Queue {
		b := fixtureBlobByID(q.Blob)
		if err := w.insert("queue", map[string]any{
			"id": q.ID, "account_id": q.AccountID, "mail_from": q.From, "blob_id": q.Blob, "prefix": []byte(q.Prefix),
			"size": len(q.Prefix) + len(b.Body), "dsn_ret": q.DSNRet, "dsn_envid": q.DSNEnv,
			"requiretls": q.RequireTLS, "smtputf8": q.UTF8, "body8bit": false,
			"created": q.Created, "next_attempt": q.NextAttempt, "attempts": q.Attempts,
			"lease_owner": q.LeaseOwner, "lease_until": q.LeaseUntil,
		}); err != nil {
			return err
		}
		for _, r := range q.Recipients {
			if err := w.insert("queue_rcpts", map[string]any{
				"queue_id": q.ID, "address": r.Address, "notify": strings.Join(r.Notify, ","), "orcpt": r.ORcpt,
				"status": r.Status, "attempts": r.Attempts, "last_reply": r.LastReply, "last_change": r.LastChange.Unix(),
			}); err != nil {
				return err
			}
		}
		if n >= fixtureSince.sentLog {
			if err := w.insert("sent_log", map[string]any{"account_id": q.AccountID, "created": q.Created, "rcpts": len(q.Recipients)}); err != nil {
				return err
			}
		}
	}
	// The expunged bodies: their rows go as releaseBlob removes them,
	// leaving their IDs behind in sqlite_sequence.
	for _, b := range d.Blobs {
		if b.Gone {
			if err := w.exec(`DELETE FROM blobs WHERE id = ?`, b.ID); err != nil {
				return err
			}
		}
	}
	// Blob IDs were reserved in ranges; a clean start leaves only the mark
	// above the last one.
	if n >= fixtureSince.blobIntents {
		next := d.Blobs[len(d.Blobs)-1].ID + 1
		if err := w.exec(`DELETE FROM blob_intents`); err != nil {
			return err
		}
		if err := w.insert("blob_intents", map[string]any{"lo": next, "hi": next}); err != nil {
			return err
		}
	}
	return nil
}

func writeFixtureMessage(w *fixtureWriter, mailboxID int64, m fixtureMessage) error {
	b := fixtureBlobByID(m.Blob)
	meta, err := fixtureMeta(b.raw())
	if err != nil {
		return err
	}
	bits := 0
	var keywords []string
	for _, f := range m.Flags {
		if strings.HasPrefix(f, `\`) {
			bit, ok := fixtureFlagBits[f]
			if !ok {
				return fmt.Errorf("no system flag %s", f)
			}
			bits |= bit
		} else {
			keywords = append(keywords, f)
		}
	}
	var date int64
	if !meta.Date.IsZero() {
		date = meta.Date.Unix()
	}
	return w.insert("messages", map[string]any{
		"id": m.ID, "mailbox_id": mailboxID, "uid": m.UID, "modseq": m.ModSeq, "sysflags": bits,
		"keywords": strings.Join(keywords, " "), "internal_date": m.Internal, "save_date": m.Internal + 60,
		"size": m.size(), "blob_id": m.Blob, "prefix": []byte(b.Prefix),
		"envelope": meta.Envelope, "structure": meta.Structure, "hdr_subject": meta.Subject, "hdr_from": meta.From,
		"hdr_to": meta.To, "hdr_cc": meta.Cc, "hdr_bcc": meta.Bcc, "hdr_messageid": meta.MessageID, "hdr_date": date,
		"hdr_inreplyto": meta.InReplyTo, "hdr_references": strings.Join(meta.References, " "),
	})
}

// checkFixtureData checks that fixtureData is what the store could hold:
// the default mailboxes, flags as the store keeps them, UIDs below UIDNext,
// MODSEQs up to HIGHESTMODSEQ, each word in its body's text only.
func checkFixtureData() error {
	for _, a := range fixtureData.Accounts {
		for _, def := range store.DefaultMailboxes {
			i := slices.IndexFunc(a.Mailboxes, func(mb fixtureMailbox) bool { return mb.Name == def.Name })
			if i < 0 || a.Mailboxes[i].Role != def.Role {
				return fmt.Errorf("fixture: %s lacks default mailbox %s %s", a.Address, def.Name, def.Role)
			}
		}
		for _, mb := range a.Mailboxes {
			var uids []uint32
			for _, m := range mb.Messages {
				bits, kw, err := store.SplitFlags(m.Flags)
				if err != nil || !slices.Equal(store.JoinFlags(bits, kw), m.Flags) {
					return fmt.Errorf("fixture: %s %s UID %d: flags %q not as the store keeps them", a.Address, mb.Name, m.UID, m.Flags)
				}
				uids = append(uids, m.UID)
				if m.UID >= mb.UIDNext || m.ModSeq > mb.HighestModSeq || m.ModSeq < 2 {
					return fmt.Errorf("fixture: %s %s UID %d: UID or MODSEQ out of range", a.Address, mb.Name, m.UID)
				}
			}
			for _, e := range mb.Expunged {
				uids = append(uids, e.UID)
				if e.UID >= mb.UIDNext || e.ModSeq > mb.HighestModSeq {
					return fmt.Errorf("fixture: %s %s expunged UID %d out of range", a.Address, mb.Name, e.UID)
				}
			}
			sorted := slices.Clone(uids)
			slices.Sort(sorted)
			if len(slices.Compact(sorted)) != len(uids) {
				return fmt.Errorf("fixture: %s %s: a UID twice", a.Address, mb.Name)
			}
		}
	}
	for _, b := range fixtureData.Blobs {
		if b.Gone {
			continue
		}
		for _, o := range fixtureData.Blobs {
			if strings.Contains(strings.ToLower(o.Prefix+o.Body), b.Word) != (o.ID == b.ID) {
				return fmt.Errorf("fixture: word %q of blob %d in blob %d", b.Word, b.ID, o.ID)
			}
		}
	}
	return nil
}

// TestMakeSchemaFixture makes testdata/schema-vN for -make-fixture=N, and
// checks it as TestUpgradeFromEveryVersion will. It does nothing without
// the flag.
func TestMakeSchemaFixture(t *testing.T) {
	n := *makeFixture
	if n == 0 {
		t.Skip("makes a fixture only when asked: " + fixtureCommand(len(migrations)-1))
	}
	dst := fixtureDir(n)
	if _, err := os.Stat(dst); err == nil {
		t.Fatalf("%s exists: a fixture is made once and kept; remove it first to make it again", dst)
	}
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp("testdata", fmt.Sprintf(".schema-v%d-", n))
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	if err := writeFixture(context.Background(), tmp, n); err != nil {
		t.Fatal(err)
	}
	checkUpgrade(t, tmp, n)
	if t.Failed() {
		return
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, f := range fixtureFiles(t, dst) {
		st, err := os.Stat(filepath.Join(dst, f))
		if err != nil {
			t.Fatal(err)
		}
		total += st.Size()
	}
	t.Logf("made %s: %d bytes", dst, total)
}

// TestUpgradeFromEveryVersion opens the fixture of every schema version
// before the newest with today's code and checks that nothing was lost. A
// fixture of the newest version, made now, is checked too: the generator
// must keep working for the next migration.
func TestUpgradeFromEveryVersion(t *testing.T) {
	for v := 1; v < len(migrations); v++ {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			t.Parallel()
			dir := fixtureDir(v)
			if _, err := os.Stat(filepath.Join(dir, "postel.db")); err != nil {
				t.Fatalf("no fixture of schema version %d (%v): every version before the newest needs one; make it with\n\t%s\nand commit %s",
					v, err, fixtureCommand(v), dir)
			}
			checkUpgrade(t, dir, v)
		})
	}
	t.Run(fmt.Sprintf("v%d-made-now", len(migrations)), func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		if err := writeFixture(context.Background(), dir, len(migrations)); err != nil {
			t.Fatal(err)
		}
		checkUpgrade(t, dir, len(migrations))
	})
}

// fixtureFiles lists the regular files under dir, relative to it.
func fixtureFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		out = append(out, rel)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// copyFixture copies the data directory src to a new temporary one.
func copyFixture(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	for _, f := range fixtureFiles(t, src) {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dst, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// checkUpgrade opens a copy of the data directory src, of schema version v,
// and checks it holds fixtureData, then that it takes new writes.
func checkUpgrade(t *testing.T, src string, v int) {
	ctx := context.Background()
	dir := copyFixture(t, src)
	// What a crash of the old version could leave: a body linked above
	// the last blob ID, never committed.
	blobs, err := store.NewFileBlobs(dir)
	if err != nil {
		t.Fatal(err)
	}
	orphan := blobs.Path(fixtureData.Blobs[len(fixtureData.Blobs)-1].ID + 1)
	if err := os.WriteFile(orphan, []byte("From: x\r\n\r\nlinked, not committed\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := Open(ctx, dir, Options{Exclusive: true})
	if err != nil {
		t.Fatalf("open of a version %d data directory: %v", v, err)
	}
	defer st.Close()
	if _, err := os.Stat(orphan); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the uncommitted body %s is still there after an exclusive open: %v", orphan, err)
	}
	// The backfill runs beside the server; data stored before migration 9
	// is complete once it is done.
	<-st.backfillDone
	var pending int
	if err := st.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM backfill`).Scan(&pending); err != nil || pending != 0 {
		t.Errorf("backfill tasks left after the backfill: %d, %v", pending, err)
	}

	var version, count int
	if err := st.rdb.QueryRowContext(ctx, `SELECT MAX(version), COUNT(*) FROM schema_version`).Scan(&version, &count); err != nil {
		t.Fatal(err)
	}
	if version != len(migrations) || count != len(migrations) {
		t.Errorf("schema_version after upgrade: %d (%d rows), want %d", version, count, len(migrations))
	}

	gaps := openGaps(t, v)
	checkAccounts(t, st, v)
	for _, a := range fixtureData.Accounts {
		checkMailboxes(t, st, a, gaps)
	}
	checkQueue(t, st, v)
	checkWritesAfterUpgrade(t, st)
}

func checkAccounts(t *testing.T, st *Store, v int) {
	ctx := context.Background()
	doms, err := st.ListDomains(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range doms {
		names = append(names, d.Name)
		if d.Created.Unix() != fixtureTime-30*86400 {
			t.Errorf("domain %s created %v", d.Name, d.Created)
		}
	}
	if !slices.Equal(names, fixtureData.Domains) {
		t.Errorf("domains %q, want %q", names, fixtureData.Domains)
	}

	want := slices.Clone(fixtureData.Accounts)
	sort.Slice(want, func(i, j int) bool {
		di, dj := store.DomainOf(want[i].Address), store.DomainOf(want[j].Address)
		return di < dj || di == dj && want[i].Address < want[j].Address
	})
	list, err := st.ListAccounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(want) {
		t.Fatalf("%d accounts, want %d", len(list), len(want))
	}
	for i, w := range want {
		exp := store.Account{
			ID: w.ID, Address: w.Address, Domain: store.DomainOf(w.Address), Credentials: w.Cred,
			QuotaBytes: w.Quota, Disabled: w.Disabled, Created: time.Unix(fixtureTime-30*86400+w.ID*3600, 0),
		}
		exp.UsedBytes, _ = w.usage()
		if v >= fixtureSince.authEpoch {
			exp.AuthEpoch = w.AuthEpoch
		}
		byAddr, err := st.Account(ctx, w.Address)
		if err != nil {
			t.Fatal(err)
		}
		byID, err := st.AccountByID(ctx, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		for how, got := range map[string]store.Account{"ListAccounts": list[i], "Account": byAddr, "AccountByID": byID} {
			if !got.Created.Equal(exp.Created) {
				t.Errorf("%s %s: created %v, want %v", how, w.Address, got.Created, exp.Created)
			}
			got.Created = exp.Created
			if got != exp {
				t.Errorf("%s %s:\n got %+v\nwant %+v", how, w.Address, got, exp)
			}
		}
		used, msgs, err := st.Usage(ctx, w.ID)
		if wb, wm := w.usage(); err != nil || used != wb || msgs != wm {
			t.Errorf("Usage(%s) = %d bytes, %d messages, %v; want %d, %d", w.Address, used, msgs, err, wb, wm)
		}

		rules, err := st.JunkRules(ctx, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		reps, err := st.Reputations(ctx, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		var wantRules []store.JunkRule
		var wantReps []store.SenderReputation
		if v >= fixtureSince.junk {
			wantRules, wantReps = w.JunkRules, w.Reputations
		}
		for i := range rules {
			if rules[i].Created.Unix() != fixtureTime {
				t.Errorf("%s: junk rule %s created %v", w.Address, rules[i].Pattern, rules[i].Created)
			}
			rules[i].Created = time.Time{}
		}
		for i := range reps {
			if reps[i].Updated.UnixNano() != fixtureTime*int64(time.Second) {
				t.Errorf("%s: reputation of %s updated %v", w.Address, reps[i].Sender, reps[i].Updated)
			}
			reps[i].Updated = time.Time{}
		}
		if !reflect.DeepEqual(rules, wantRules) || !reflect.DeepEqual(reps, wantReps) {
			t.Errorf("%s: junk rules %+v, reputations %+v; want %+v, %+v", w.Address, rules, reps, wantRules, wantReps)
		}
	}

	aliases, err := st.ListAliases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(aliases, fixtureData.Aliases) {
		t.Errorf("aliases %+v, want %+v", aliases, fixtureData.Aliases)
	}
	if al, err := st.Alias(ctx, "@EXAMPLE.net"); err != nil || !slices.Equal(al.Targets, []string{"carol@example.net"}) {
		t.Errorf("catch-all alias: %+v, %v", al, err)
	}
}

func checkMailboxes(t *testing.T, st *Store, a fixtureAccount, gaps map[string]bool) {
	ctx := context.Background()
	want := slices.Clone(a.Mailboxes)
	slices.SortFunc(want, func(x, y fixtureMailbox) int { return strings.Compare(x.Name, y.Name) })
	list, err := st.ListMailboxes(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(want) {
		t.Fatalf("%s: %d mailboxes, want %d", a.Address, len(list), len(want))
	}
	for i, w := range want {
		exp := store.Mailbox{
			ID: w.ID, AccountID: a.ID, Name: w.Name, UIDValidity: w.UIDValidity, UIDNext: w.UIDNext,
			HighestModSeq: w.HighestModSeq, SpecialUse: w.Role, Subscribed: w.Subscribed, Messages: len(w.Messages),
		}
		for _, m := range w.Messages {
			if !slices.Contains(m.Flags, store.FlagSeen) {
				exp.Unseen++
			}
			if slices.Contains(m.Flags, store.FlagDeleted) {
				exp.Deleted++
			}
			exp.Size += m.size()
		}
		if list[i] != exp {
			t.Errorf("%s: ListMailboxes[%d]:\n got %+v\nwant %+v", a.Address, i, list[i], exp)
		}
		if got, err := st.Mailbox(ctx, a.ID, w.Name); err != nil || got != exp {
			t.Errorf("%s: Mailbox(%s):\n got %+v, %v\nwant %+v", a.Address, w.Name, got, err, exp)
		}
		checkMessages(t, st, a, w, gaps)
	}
}

func checkMessages(t *testing.T, st *Store, a fixtureAccount, mb fixtureMailbox, gaps map[string]bool) {
	ctx := context.Background()
	where := a.Address + " " + mb.Name
	msgs, err := st.Messages(ctx, a.ID, mb.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != len(mb.Messages) {
		t.Fatalf("%s: %d messages, want %d", where, len(msgs), len(mb.Messages))
	}
	for i, w := range mb.Messages {
		got := msgs[i]
		if got.ID != w.ID || got.MailboxID != mb.ID || got.UID != w.UID || got.ModSeq != w.ModSeq || got.Size != w.size() ||
			!slices.Equal(got.Flags, w.Flags) ||
			got.InternalDate.Unix() != w.Internal || got.SaveDate.Unix() != w.Internal+60 {
			t.Errorf("%s: message %d:\n got id %d mailbox %d UID %d MODSEQ %d size %d flags %q dates %d %d\nwant id %d mailbox %d UID %d MODSEQ %d size %d flags %q dates %d %d",
				where, i, got.ID, got.MailboxID, got.UID, got.ModSeq, got.Size, got.Flags, got.InternalDate.Unix(), got.SaveDate.Unix(),
				w.ID, mb.ID, w.UID, w.ModSeq, w.size(), w.Flags, w.Internal, w.Internal+60)
		}
	}
	// CONDSTORE: the messages changed since a MODSEQ.
	for _, since := range []uint64{1, mb.HighestModSeq / 2, mb.HighestModSeq} {
		got, err := st.Messages(ctx, a.ID, mb.ID, since)
		if err != nil {
			t.Fatal(err)
		}
		var gotUIDs, wantUIDs []uint32
		for _, m := range got {
			gotUIDs = append(gotUIDs, m.UID)
		}
		for _, m := range mb.Messages {
			if m.ModSeq > since {
				wantUIDs = append(wantUIDs, m.UID)
			}
		}
		if !slices.Equal(gotUIDs, wantUIDs) {
			t.Errorf("%s: changed since %d: UIDs %v, want %v", where, since, gotUIDs, wantUIDs)
		}
	}
	// QRESYNC: what was expunged.
	exp, err := st.ExpungedSince(ctx, a.ID, mb.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(exp, mb.Expunged) {
		t.Errorf("%s: ExpungedSince(0) = %v, want %v", where, exp, mb.Expunged)
	}
	if exp, err := st.ExpungedSince(ctx, a.ID, mb.ID, mb.HighestModSeq); err != nil || len(exp) != 0 {
		t.Errorf("%s: ExpungedSince(HIGHESTMODSEQ) = %v, %v", where, exp, err)
	}

	metas, err := st.MessageMetas(ctx, a.ID, mb.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(metas) != len(mb.Messages) {
		t.Errorf("%s: %d metas, want %d", where, len(metas), len(mb.Messages))
	}
	words := map[string][]uint32{}
	for _, w := range mb.Messages {
		b := fixtureBlobByID(w.Blob)
		words[b.Word] = append(words[b.Word], w.UID)
		one, err := st.MessageMetas(ctx, a.ID, mb.ID, []uint32{w.UID})
		if err != nil || len(one) != 1 {
			t.Errorf("%s UID %d: MessageMetas of one: %d, %v", where, w.UID, len(one), err)
		}
		checkMeta(t, fmt.Sprintf("%s UID %d", where, w.UID), metas[w.UID], b.raw(), gaps["threads"])

		r, err := st.OpenMessage(ctx, a.ID, mb.ID, w.UID)
		if err != nil {
			t.Errorf("%s UID %d: OpenMessage: %v", where, w.UID, err)
			continue
		}
		got, err := io.ReadAll(r)
		size := r.Size()
		r.Close()
		if err != nil || !bytes.Equal(got, b.raw()) || size != int64(len(got)) {
			t.Errorf("%s UID %d: read %d bytes (Size %d), %v; differs from the %d written", where, w.UID, len(got), size, err, len(b.raw()))
		}
	}

	// Full-text search finds each body's word.
	ftsGap := gaps["fts"]
	for word, uids := range words {
		want := uids
		if ftsGap {
			want = nil
		}
		for _, withHeaders := range []bool{false, true} {
			got, ok, err := st.SearchText(ctx, a.ID, mb.ID, []string{strings.ToUpper(word)}, withHeaders)
			if err != nil || !ok || !slices.Equal(got, want) {
				t.Errorf("%s: SearchText(%q, headers %v) = %v, %v, %v; want %v%s", where, word, withHeaders, got, ok, err, want, gapNote(ftsGap, "fts"))
			}
		}
	}
}

// checkMeta compares stored metadata with what internal/message makes of
// the same bytes today. The serialized envelope and structure are
// compared decoded: what matters is that today's FETCH reads them so.
func checkMeta(t *testing.T, where string, got store.MessageMeta, raw []byte, threadsGap bool) {
	want, err := fixtureMeta(raw)
	if err != nil {
		t.Fatal(err)
	}
	if threadsGap {
		want.InReplyTo, want.References = "", nil
	}
	if got.Subject != want.Subject || got.From != want.From || got.To != want.To || got.Cc != want.Cc || got.Bcc != want.Bcc ||
		got.MessageID != want.MessageID || !got.Date.Equal(want.Date) || got.InReplyTo != want.InReplyTo ||
		!slices.Equal(got.References, want.References) {
		t.Errorf("%s: header fields\n got %q %q %q %q %q %q %v %q %q\nwant %q %q %q %q %q %q %v %q %q%s", where,
			got.Subject, got.From, got.To, got.Cc, got.Bcc, got.MessageID, got.Date, got.InReplyTo, got.References,
			want.Subject, want.From, want.To, want.Cc, want.Bcc, want.MessageID, want.Date, want.InReplyTo, want.References,
			gapNote(threadsGap, "threads"))
	}
	if got.HeadersText != "" || got.BodyText != "" {
		t.Errorf("%s: MessageMetas returned the searchable text", where)
	}
	genv, err := message.UnmarshalEnvelope(got.Envelope)
	if err != nil {
		t.Errorf("%s: stored envelope: %v", where, err)
	}
	wenv, _ := message.UnmarshalEnvelope(want.Envelope)
	if !reflect.DeepEqual(genv, wenv) {
		t.Errorf("%s: stored envelope %s, today's %s: old data dirs need a migration or a reader of the old form", where, got.Envelope, want.Envelope)
	}
	gst, err := message.UnmarshalStructure(got.Structure)
	if err != nil {
		t.Errorf("%s: stored structure: %v", where, err)
	}
	wst, _ := message.UnmarshalStructure(want.Structure)
	if !reflect.DeepEqual(gst, wst) {
		t.Errorf("%s: stored structure %s, today's %s: old data dirs need a migration or a reader of the old form", where, got.Structure, want.Structure)
	}
}

func checkQueue(t *testing.T, st *Store, v int) {
	ctx := context.Background()
	list, err := st.Queue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(fixtureData.Queue) {
		t.Fatalf("%d queue entries, want %d", len(list), len(fixtureData.Queue))
	}
	for i, w := range fixtureData.Queue {
		b := fixtureBlobByID(w.Blob)
		exp := store.QueueEntry{
			ID: w.ID, AccountID: w.AccountID, From: w.From, Recipients: w.Recipients, DSNRet: w.DSNRet, DSNEnvID: w.DSNEnv,
			RequireTLS: w.RequireTLS, SMTPUTF8: w.UTF8, Size: int64(len(w.Prefix) + len(b.Body)),
			Created: time.Unix(w.Created, 0), NextAttempt: time.Unix(w.NextAttempt, 0), Attempts: w.Attempts, Prefix: []byte(w.Prefix),
		}
		if w.LeaseUntil != 0 {
			exp.LeaseUntil = time.Unix(w.LeaseUntil, 0)
		}
		if v >= fixtureSince.leaseOwner {
			exp.LeaseOwner = w.LeaseOwner
		}
		one, err := st.QueueEntry(ctx, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		for how, got := range map[string]store.QueueEntry{"Queue": list[i], "QueueEntry": one} {
			if !reflect.DeepEqual(got, exp) {
				t.Errorf("%s %d:\n got %+v\nwant %+v", how, w.ID, got, exp)
			}
		}
		r, err := st.OpenQueued(ctx, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(r)
		r.Close()
		if err != nil || string(body) != w.Prefix+b.Body {
			t.Errorf("OpenQueued(%d): %d bytes, %v; differs from the %d written", w.ID, len(body), err, len(w.Prefix+b.Body))
		}
		sent, err := st.SentToday(ctx, w.AccountID, time.Unix(w.Created-3600, 0))
		want := 0
		if v >= fixtureSince.sentLog {
			want = len(w.Recipients)
		}
		if err != nil || sent != want {
			t.Errorf("SentToday(%d) = %d, %v; want %d", w.AccountID, sent, err, want)
		}
	}
}

// checkWritesAfterUpgrade delivers, flags and expunges in the upgraded
// store: UIDs, MODSEQs and IDs go on from where the old data left them.
func checkWritesAfterUpgrade(t *testing.T, st *Store) {
	ctx := context.Background()
	a := fixtureData.Accounts[0]
	inbox := a.Mailboxes[0]
	var maxID int64
	for _, acc := range fixtureData.Accounts {
		for _, mb := range acc.Mailboxes {
			for _, m := range mb.Messages {
				maxID = max(maxID, m.ID)
			}
		}
	}
	raw := "From: Bob <bob@example.org>\r\nTo: alice@example.org\r\nSubject: After the upgrade\r\n\r\nA gooseberry, freshly indexed.\r\n"
	meta, err := fixtureMeta([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	d := &store.Delivery{Spool: storetest.Spool(t, st, raw), Meta: meta, Targets: []store.Target{{AccountID: a.ID}}}
	got, err := st.Deliver(ctx, d)
	if err != nil {
		t.Fatalf("delivery after upgrade: %v", err)
	}
	if got[0].UID != inbox.UIDNext || got[0].UIDValidity != inbox.UIDValidity || got[0].MessageID <= maxID {
		t.Errorf("delivery after upgrade: %+v; want UID %d, UIDVALIDITY %d, ID above %d", got[0], inbox.UIDNext, inbox.UIDValidity, maxID)
	}
	// Its blob must not take the ID of an old one, expunged or not.
	var blobID int64
	if err := st.rdb.QueryRowContext(ctx, `SELECT blob_id FROM messages WHERE id = ?`, got[0].MessageID).Scan(&blobID); err != nil {
		t.Fatal(err)
	}
	if last := fixtureData.Blobs[len(fixtureData.Blobs)-1].ID; blobID <= last {
		t.Errorf("new body got blob ID %d, not above the old %d", blobID, last)
	}
	if uids, ok, err := st.SearchText(ctx, a.ID, inbox.ID, []string{"gooseberry"}, false); err != nil || !ok || !slices.Equal(uids, []uint32{inbox.UIDNext}) {
		t.Errorf("SearchText of the new message = %v, %v, %v", uids, ok, err)
	}
	changes, err := st.StoreFlags(ctx, a.ID, inbox.ID, []uint32{inbox.Messages[0].UID}, store.FlagsAdd, []string{store.FlagFlagged}, 0)
	if want := inbox.HighestModSeq + 2; err != nil || len(changes) != 1 || changes[0].ModSeq != want {
		t.Errorf("StoreFlags after upgrade = %+v, %v; want MODSEQ %d", changes, err, want)
	}
	gone, err := st.Expunge(ctx, a.ID, inbox.ID, []uint32{inbox.Messages[0].UID})
	if want := inbox.HighestModSeq + 3; err != nil || len(gone) != 1 || gone[0].ModSeq != want {
		t.Errorf("Expunge after upgrade = %+v, %v; want MODSEQ %d", gone, err, want)
	}
	// INBOX 1 shares its body with Projects/2026 3: the file stays.
	shared := slices.IndexFunc(a.Mailboxes, func(mb fixtureMailbox) bool { return mb.Name == "Projects/2026" })
	if r, err := st.OpenMessage(ctx, a.ID, a.Mailboxes[shared].ID, a.Mailboxes[shared].Messages[0].UID); err != nil {
		t.Errorf("the copy of an expunged message: %v", err)
	} else {
		r.Close()
	}
	used, msgs, err := st.Usage(ctx, a.ID)
	wb, wm := a.usage()
	wb += int64(len(raw)) - inbox.Messages[0].size()
	if err != nil || used != wb || msgs != wm {
		t.Errorf("Usage after writes = %d, %d, %v; want %d, %d", used, msgs, err, wb, wm)
	}
}

// TestNewerSchemaRefused: a data directory written by a newer postel
// (a schema version this binary does not know) is refused with an error
// naming both versions, and left exactly as it was.
func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := open(t, dir, true)
	a := storetest.Account(t, st, "alice@example.org")
	storetest.Deliver(t, st, "Subject: kept\r\n\r\nfrom the future\r\n", a.ID)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	newer := len(migrations) + 1
	path := filepath.Join(dir, "postel.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	for _, q := range []string{
		fmt.Sprintf(`INSERT INTO schema_version (version, applied) VALUES (%d, %d)`, newer, time.Now().Unix()),
		// What a newer migration might have done.
		`CREATE TABLE from_the_future (x INTEGER)`,
		`PRAGMA wal_checkpoint(TRUNCATE)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	before := hashFiles(t, dir)
	if _, ok := before["postel.db-wal"]; ok {
		t.Fatalf("setup left postel.db-wal")
	}
	for _, exclusive := range []bool{true, false} {
		st, err := Open(ctx, dir, Options{Exclusive: exclusive})
		if err == nil {
			st.Close()
			t.Fatalf("Open (exclusive %v) of a schema version %d data directory succeeded", exclusive, newer)
		}
		msg := err.Error()
		if !errors.Is(err, ErrSchemaTooNew) || !mentionsNumber(msg, newer) || !mentionsNumber(msg, len(migrations)) || !strings.Contains(msg, "newer") {
			t.Errorf("Open (exclusive %v) error %q: want it to name version %d, the known %d, and say a newer postel is needed",
				exclusive, msg, newer, len(migrations))
		}
		after := hashFiles(t, dir)
		for f, h := range before {
			if after[f] != h {
				t.Errorf("Open (exclusive %v) of a too new data directory changed %s", exclusive, f)
			}
		}
		for f, h := range after {
			if _, ok := before[f]; ok {
				continue
			}
			switch f {
			case "postel.lock": // the lock of an exclusive open
			case "postel.db-wal", "postel.db-shm":
				if f == "postel.db-wal" && h != emptyHash {
					t.Errorf("Open (exclusive %v) of a too new data directory left %s with content", exclusive, f)
				}
			default:
				t.Errorf("Open (exclusive %v) of a too new data directory left a new file %s", exclusive, f)
			}
		}
	}
}

var emptyHash = sha256.Sum256(nil)

// mentionsNumber tells whether msg holds the number n as a word.
func mentionsNumber(msg string, n int) bool {
	return regexp.MustCompile(`\b` + strconv.Itoa(n) + `\b`).MatchString(msg)
}

// hashFiles hashes the regular files under dir by relative path.
func hashFiles(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	for _, f := range fixtureFiles(t, dir) {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		out[f] = sha256.Sum256(b)
	}
	return out
}
