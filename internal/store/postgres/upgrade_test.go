package postgres

// Upgrades that never lose data. testdata/schema-v<N>.sql is a database as
// a postel whose newest migration was N left it: plain SQL (pg_dump
// --inserts, without owners or privileges) that psql, or any client, loads
// into an empty database of PostgreSQL 13 or later. Each was made once, by
//
//	go test ./internal/store/postgres -run TestMakeSchemaFixture -make-fixture=N
//
// and is never made again: it stands for the databases in the field.
// TestUpgradeFromEveryVersion loads each into a fresh database, opens it
// with today's code (which applies migrations N+1 and on) and checks,
// through the store's API, everything fixtureData says it holds.
//
// Adding migration M+1: make the fixture of version M (the newest before
// yours) with the command above, before or after writing the migration, and
// commit it. If the migration brings data, teach writeFixtureRows to write
// it when the schema has it (the fixtures of older versions do not) and the
// checks to expect it from that version on (fixtureSince).
//
// This is the SQLite store's upgrade test (internal/store/sqlite) for this
// store: the same data, kept as this store lays it out (bodies in blobs and
// blob_chunks, counted by blobs.refs; their text in blob_text; the change
// feed; sequences).

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"postel/internal/deliver"
	"postel/internal/message"
	"postel/internal/store"
	"postel/internal/store/storetest"
)

var makeFixture = flag.Int("make-fixture", 0, "make testdata/schema-v`N`.sql: a database of schema version N (TestMakeSchemaFixture)")

// fixtureCommand is how to make the fixture of version v.
func fixtureCommand(v int) string {
	return fmt.Sprintf("go test ./internal/store/postgres -run TestMakeSchemaFixture -make-fixture=%d", v)
}

func fixturePath(v int) string { return filepath.Join("testdata", fmt.Sprintf("schema-v%d.sql", v)) }

// fixtureSince is the schema version that brought what a fixture holds only
// from then on: the generator checks it against the schema it made, and the
// checks use it to know what a fixture of each version holds.
var fixtureSince = struct {
	blobText, shared int
}{
	blobText: 2, // blob_text
	shared:   3, // leases, login_failures
}

// knownGaps are upgrade bugs this test found and that are not fixed yet:
// data that a delivery today would have, which an upgrade from a version
// below the one given leaves missing for the messages stored before. The
// test checks that each is still there (and logs it), so that whoever
// fixes one must delete its line here, and the full check applies again.
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

// The stored encoding of system flags in messages.sysflags, written out
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
	// Changes are the newest rows of the change feed when the server
	// stopped (seq 42 was rolled back: a gap).
	Changes []fixtureChange
	// Leases and LoginFailures: from fixtureSince.shared.
	Leases        []fixtureLease
	LoginFailures []fixtureLoginFailure
}{
	Domains: []string{"example.net", "example.org"},
	Accounts: []fixtureAccount{{
		ID: 1, Address: "alice@example.org", AuthEpoch: 1,
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
					// A copy of INBOX 1: the same blob.
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
		// Stored in chunks of 64 bytes: a blob records its chunk size, and
		// a read must take it from there (a large body, in small).
		{ID: 5, Word: "xylophone", ChunkSize: 64,
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
		// The body of the last message expunged before the server stopped
		// for the upgrade: no longer used, released, and not yet deleted
		// (blobGrace had not passed).
		{ID: 12, Word: "artichoke", Released: fixtureTime + 16*3600,
			Prefix: "Return-Path: <bob@example.org>\r\nReceived: from mail.example.org by mx.example.org with ESMTPS id f12; Thu, 15 Jan 2026 15:30:00 +0000\r\n",
			Body: crlf(`From: Bob <bob@example.org>
To: alice@example.org
Subject: Recipe
Date: Thu, 15 Jan 2026 15:30:00 +0000
Message-ID: <recipe@example.org>

Artichoke hearts, not the leaves.
`)},
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
	Changes: []fixtureChange{
		{Seq: 40, AccountID: 1, MailboxID: 1, Kind: store.ChangeExpunged, ModSeq: 10, UIDs: []uint32{3, 6}, Created: fixtureTime + 16*3600 - 60},
		{Seq: 41, AccountID: 1, MailboxID: 1, Kind: store.ChangeExpunged, ModSeq: 11, UIDs: []uint32{4}, Created: fixtureTime + 16*3600},
		{Seq: 43, AccountID: 1, MailboxID: 1, Kind: store.ChangeFlags, ModSeq: 12, UIDs: []uint32{2}, Created: fixtureTime + 16*3600 + 30},
	},
	Leases: []fixtureLease{
		// A POP3 session's maildrop, held when the server stopped.
		{Name: "pop3/alice@example.org", Owner: "mx1.example.org/2", Expires: fixtureTime + 16*3600 + 600},
	},
	LoginFailures: []fixtureLoginFailure{
		{Source: "198.51.100.7", Account: "alice@example.org", At: fixtureTime + 15*3600},
		{Source: "198.51.100.7", Account: "", At: fixtureTime + 15*3600 + 5},
		{Source: "2001:db8:1::/64", Account: "bob@example.org", At: fixtureTime + 15*3600 + 9},
	},
}

type fixtureAccount struct {
	ID        int64
	Address   string
	Cred      store.Credentials
	Quota     int64
	Disabled  bool
	AuthEpoch int64
	// Mailboxes are the defaults (store.DefaultMailboxes) and one nested.
	Mailboxes   []fixtureMailbox
	JunkRules   []store.JunkRule         // sorted by kind, pattern
	Reputations []store.SenderReputation // sorted by sender
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

// fixtureBlob is one body (blobs, blob_chunks, blob_text) and the prefix
// of the messages using it.
type fixtureBlob struct {
	ID     int64
	Prefix string
	Body   string
	Word   string // found only in this body, for SearchText
	// ChunkSize is the size of its blob_chunks rows; 0 for the store's
	// (chunkSize).
	ChunkSize int
	// Gone: its messages were expunged and the janitor deleted it.
	Gone bool
	// Released: its messages were expunged at this time (Unix seconds),
	// and the janitor had not deleted it yet.
	Released int64
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
	LeaseOwner       string
	LeaseUntil       int64
	Recipients       []store.QueueRcpt // sorted by address
	RequireTLS, UTF8 bool
}

type fixtureChange struct {
	Seq, AccountID, MailboxID int64
	Kind                      store.ChangeKind
	ModSeq                    uint64
	UIDs                      []uint32
	Created                   int64
}

type fixtureLease struct {
	Name, Owner string
	Expires     int64
}

type fixtureLoginFailure struct {
	Source, Account string
	At              int64 // Unix seconds; stored in nanoseconds
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

// kept tells whether the blob's rows are in the fixture.
func (b fixtureBlob) kept() bool { return !b.Gone }

// used tells whether messages use the blob.
func (b fixtureBlob) used() bool { return !b.Gone && b.Released == 0 }

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

// fixtureRefs is blobs.refs of blob id: the messages and queue entries
// using it.
func fixtureRefs(id int64) int {
	n := 0
	for _, a := range fixtureData.Accounts {
		for _, mb := range a.Mailboxes {
			for _, m := range mb.Messages {
				if m.Blob == id {
					n++
				}
			}
		}
	}
	for _, q := range fixtureData.Queue {
		if q.Blob == id {
			n++
		}
	}
	return n
}

// fixtureSequences are the last values of the ID sequences: the largest
// ID each table ever gave, in a fixed order.
func fixtureSequences() []struct {
	table, column string
	last          int64
} {
	d := &fixtureData
	var accounts, mailboxes, messages, blobs, queue, changes int64
	for _, a := range d.Accounts {
		accounts = max(accounts, a.ID)
		for _, mb := range a.Mailboxes {
			mailboxes = max(mailboxes, mb.ID)
			for _, m := range mb.Messages {
				messages = max(messages, m.ID)
			}
		}
	}
	for _, b := range d.Blobs {
		blobs = max(blobs, b.ID)
	}
	for _, q := range d.Queue {
		queue = max(queue, q.ID)
	}
	for _, c := range d.Changes {
		changes = max(changes, c.Seq)
	}
	return []struct {
		table, column string
		last          int64
	}{
		{"accounts", "id", accounts},
		{"mailboxes", "id", mailboxes},
		{"blobs", "id", blobs},
		{"messages", "id", messages},
		{"queue", "id", queue},
		{"changes", "seq", changes},
	}
}

// fixtureMeta is what the delivery path stores for a message: what
// deliver.Prepare makes of prefix and body, given as a spool.
func fixtureMeta(prefix, body string) (store.MessageMeta, error) {
	dir, err := os.MkdirTemp("", "postel-fixture-")
	if err != nil {
		return store.MessageMeta{}, err
	}
	defer os.RemoveAll(dir)
	spools, err := store.NewFileBlobs(dir)
	if err != nil {
		return store.MessageMeta{}, err
	}
	sp, err := spools.NewSpool()
	if err != nil {
		return store.MessageMeta{}, err
	}
	defer sp.Discard()
	if _, err := io.WriteString(sp, body); err != nil {
		return store.MessageMeta{}, err
	}
	if err := sp.Finish(); err != nil {
		return store.MessageMeta{}, err
	}
	d, err := deliver.Prepare(sp, []byte(prefix), nil)
	if err != nil {
		return store.MessageMeta{}, err
	}
	return d.Meta, nil
}

// migrateTo is migrate stopped at version n, without the lock: the schema
// that a postel whose newest migration was n made, one transaction per
// migration, with its schema_version row.
func migrateTo(ctx context.Context, conn *pgx.Conn, n int) error {
	for v := 1; v <= n; v++ {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if v == 1 {
				if _, err := tx.Exec(ctx, `CREATE TABLE schema_version (version integer PRIMARY KEY, applied bigint NOT NULL)`); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, migrations[v-1]); err != nil {
				return fmt.Errorf("migration %d: %w", v, err)
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_version (version, applied) VALUES ($1, $2)`, v, fixtureTime-86400*int64(n+1-v))
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// fixtureWriter inserts rows with the columns the schema has: a column a
// later migration brought is left out of the fixtures made before it.
type fixtureWriter struct {
	ctx  context.Context
	tx   pgx.Tx
	cols map[string]map[string]bool
}

func (w *fixtureWriter) columns(table string) (map[string]bool, error) {
	if c, ok := w.cols[table]; ok {
		return c, nil
	}
	rows, err := w.tx.Query(w.ctx, `SELECT column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1`, table)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	c := map[string]bool{}
	for _, name := range names {
		c[name] = true
	}
	w.cols[table] = c
	return c, nil
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
	var names, params []string
	var args []any
	for _, name := range slices.Sorted(maps.Keys(row)) {
		if have[name] {
			names = append(names, name)
			args = append(args, row[name])
			params = append(params, "$"+strconv.Itoa(len(args)))
		}
	}
	q := `INSERT INTO ` + table + ` (` + strings.Join(names, ", ") + `) VALUES (` + strings.Join(params, ", ") + `)`
	if _, err := w.tx.Exec(w.ctx, q, args...); err != nil {
		return fmt.Errorf("%s: %w", q, err)
	}
	return nil
}

func (w *fixtureWriter) exec(q string, args ...any) error {
	if _, err := w.tx.Exec(w.ctx, q, args...); err != nil {
		return fmt.Errorf("%s: %w", q, err)
	}
	return nil
}

// writeFixture makes the empty database dsn one of schema version n
// holding fixtureData, with raw SQL valid at that version.
func writeFixture(ctx context.Context, dsn string, n int) error {
	if n < 1 || n > len(migrations) {
		return fmt.Errorf("no schema version %d: there are 1 to %d", n, len(migrations))
	}
	if err := checkFixtureData(); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if err := migrateTo(ctx, conn, n); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		w := &fixtureWriter{ctx: ctx, tx: tx, cols: map[string]map[string]bool{}}
		for _, c := range []struct {
			table, column string
			since         int
		}{
			{"blob_text", "", fixtureSince.blobText},
			{"leases", "", fixtureSince.shared},
			{"login_failures", "", fixtureSince.shared},
		} {
			if w.has(c.table, c.column) != (n >= c.since) {
				return fmt.Errorf("fixtureSince is wrong: schema version %d has %s %s: %v", n, c.table, c.column, n >= c.since)
			}
		}
		return writeFixtureRows(w, n)
	})
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
		if !b.kept() {
			continue
		}
		if err := writeFixtureBlob(w, n, b); err != nil {
			return err
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
			"uidvalidity_last": int64(last), "created": created + a.ID*3600, "auth_epoch": a.AuthEpoch,
		}); err != nil {
			return err
		}
		for _, mb := range a.Mailboxes {
			if err := w.insert("mailboxes", map[string]any{
				"id": mb.ID, "account_id": a.ID, "name": mb.Name, "uidvalidity": int64(mb.UIDValidity),
				"uidnext": int64(mb.UIDNext), "highest_modseq": int64(mb.HighestModSeq), "special_use": mb.Role, "subscribed": mb.Subscribed,
			}); err != nil {
				return err
			}
			for _, m := range mb.Messages {
				if err := writeFixtureMessage(w, mb.ID, m); err != nil {
					return err
				}
			}
			for _, e := range mb.Expunged {
				if err := w.insert("expunged", map[string]any{"mailbox_id": mb.ID, "uid": int64(e.UID), "modseq": int64(e.ModSeq)}); err != nil {
					return err
				}
			}
		}
		for _, r := range a.JunkRules {
			if err := w.insert("junk_rules", map[string]any{"account_id": a.ID, "pattern": r.Pattern, "kind": r.Kind, "created": int64(fixtureTime)}); err != nil {
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
			"size": int64(len(q.Prefix) + len(b.Body)), "dsn_ret": q.DSNRet, "dsn_envid": q.DSNEnv,
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
		if err := w.insert("sent_log", map[string]any{"account_id": q.AccountID, "created": q.Created, "rcpts": len(q.Recipients)}); err != nil {
			return err
		}
	}
	for _, c := range d.Changes {
		if err := w.insert("changes", map[string]any{
			"seq": c.Seq, "account_id": c.AccountID, "mailbox_id": c.MailboxID, "kind": int32(c.Kind),
			"modseq": int64(c.ModSeq), "uids": store.EncodeUIDs(c.UIDs), "created": c.Created,
		}); err != nil {
			return err
		}
	}
	if n >= fixtureSince.shared {
		for _, l := range d.Leases {
			if err := w.insert("leases", map[string]any{"name": l.Name, "owner": l.Owner, "expires": time.Unix(l.Expires, 0)}); err != nil {
				return err
			}
		}
		for _, f := range d.LoginFailures {
			if err := w.insert("login_failures", map[string]any{"source": f.Source, "account": f.Account, "at": f.At * int64(time.Second)}); err != nil {
				return err
			}
		}
	}
	// The rows above were given their IDs: the sequences go on from the
	// largest ID each gave, as the store's inserts leave them.
	for _, s := range fixtureSequences() {
		if err := w.exec(`SELECT setval(pg_get_serial_sequence($1, $2), $3)`, s.table, s.column, s.last); err != nil {
			return err
		}
	}
	return nil
}

// writeFixtureBlob inserts a blob as insertBlob lays it out: the blobs row
// counting its users, the body in chunks, and (from fixtureSince.blobText)
// the searchable text of prefix and body, lower-cased.
func writeFixtureBlob(w *fixtureWriter, n int, b fixtureBlob) error {
	size := b.ChunkSize
	if size == 0 {
		size = chunkSize
	}
	var released any
	if b.Released != 0 {
		released = b.Released
	}
	if err := w.insert("blobs", map[string]any{"id": b.ID, "size": int64(len(b.Body)), "chunk_size": size,
		"refs": fixtureRefs(b.ID), "released": released, "created": int64(fixtureTime)}); err != nil {
		return err
	}
	body := []byte(b.Body)
	for i := 0; i == 0 || i*size < len(body); i++ {
		chunk := body[i*size : min(len(body), (i+1)*size)]
		if err := w.insert("blob_chunks", map[string]any{"blob_id": b.ID, "n": i, "data": chunk}); err != nil {
			return err
		}
	}
	if n < fixtureSince.blobText {
		return nil
	}
	meta, err := fixtureMeta(b.Prefix, b.Body)
	if err != nil {
		return err
	}
	if meta.HeadersText == "" && meta.BodyText == "" {
		return nil
	}
	// strings.ToLower written out, not searchFold: the fixture keeps the
	// folding of its time.
	return w.insert("blob_text", map[string]any{"blob_id": b.ID,
		"headers": strings.ToLower(meta.HeadersText), "body": strings.ToLower(meta.BodyText)})
}

func writeFixtureMessage(w *fixtureWriter, mailboxID int64, m fixtureMessage) error {
	b := fixtureBlobByID(m.Blob)
	meta, err := fixtureMeta(b.Prefix, b.Body)
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
		"id": m.ID, "mailbox_id": mailboxID, "uid": int64(m.UID), "modseq": int64(m.ModSeq), "sysflags": bits,
		"keywords": strings.Join(keywords, " "), "internal_date": m.Internal, "save_date": m.Internal + 60,
		"size": m.size(), "blob_id": m.Blob, "prefix": []byte(b.Prefix),
		"envelope": nonNil(meta.Envelope), "structure": nonNil(meta.Structure), "hdr_subject": meta.Subject, "hdr_from": meta.From,
		"hdr_to": meta.To, "hdr_cc": meta.Cc, "hdr_bcc": meta.Bcc, "hdr_messageid": meta.MessageID, "hdr_date": date,
		"hdr_inreplyto": meta.InReplyTo, "hdr_references": strings.Join(meta.References, " "),
	})
}

// checkFixtureData checks that fixtureData is what the store could hold:
// the default mailboxes, flags as the store keeps them, UIDs below UIDNext,
// MODSEQs up to HIGHESTMODSEQ, messages only on blobs in use, each word in
// its body's text only.
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
				if !fixtureBlobByID(m.Blob).used() {
					return fmt.Errorf("fixture: %s %s UID %d on blob %d, gone or released", a.Address, mb.Name, m.UID, m.Blob)
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
		if b.used() != (fixtureRefs(b.ID) > 0) {
			return fmt.Errorf("fixture: blob %d has %d users", b.ID, fixtureRefs(b.ID))
		}
		if !b.kept() {
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

// pgDump finds pg_dump as pgtest finds the server's programs: in
// $POSTEL_PG_BIN when set, else in the newest /usr/lib/postgresql/*/bin,
// else on PATH. Without it the test is skipped, or fails when
// POSTEL_REQUIRE_POSTGRES=1.
func pgDump(t *testing.T) string {
	t.Helper()
	path, err := findPgDump()
	if err == nil {
		return path
	}
	if os.Getenv("POSTEL_REQUIRE_POSTGRES") == "1" {
		t.Fatalf("%v; POSTEL_REQUIRE_POSTGRES=1 requires it (Debian: postgresql-client)", err)
	}
	t.Skipf("%v; skipping (Debian: postgresql-client)", err)
	return ""
}

func findPgDump() (string, error) {
	if dir := os.Getenv("POSTEL_PG_BIN"); dir != "" {
		p := filepath.Join(dir, "pg_dump")
		if _, err := exec.LookPath(p); err != nil {
			return "", fmt.Errorf("POSTEL_PG_BIN=%s lacks pg_dump", dir)
		}
		return p, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump")
	best, bestV := "", -1
	for _, p := range dirs {
		v, err := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p))))
		if err != nil || v <= bestV {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			best, bestV = p, v
		}
	}
	if best != "" {
		return best, nil
	}
	p, err := exec.LookPath("pg_dump")
	if err != nil {
		return "", errors.New("pg_dump not found (looked in $POSTEL_PG_BIN, /usr/lib/postgresql/*/bin and PATH)")
	}
	return p, nil
}

// dumpOmits are the lines of pg_dump's output a fixture leaves out: psql's
// meta-commands (\restrict, whose key changes at every dump, and the
// others: a fixture is plain SQL, for any client) and the settings that
// older servers do not know (transaction_timeout: PostgreSQL 17).
var dumpOmits = regexp.MustCompile(`^(\\.*|SET transaction_timeout = .*)$`)

// dumpDatabase returns the database dsn as plain SQL that loads into an
// empty database: pg_dump's, without owners and privileges, data as
// INSERTs, and without dumpOmits.
func dumpDatabase(ctx context.Context, pgDump, dsn string) (string, error) {
	cmd := exec.CommandContext(ctx, pgDump, "--no-owner", "--no-privileges", "--no-comments", "--no-tablespaces",
		"--inserts", "--dbname="+dsn)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "PGCONNECT_TIMEOUT=10")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %v: %s", pgDump, err, strings.TrimSpace(stderr.String()))
	}
	// Line by line: the text of fixtureData that spans lines (blob_text)
	// has no line that begins with "\" or "SET".
	lines := strings.SplitAfter(stdout.String(), "\n")
	var b strings.Builder
	for _, l := range lines {
		if dumpOmits.MatchString(strings.TrimRight(l, "\r\n")) {
			continue
		}
		b.WriteString(l)
	}
	return b.String(), nil
}

// loadSQL runs the SQL of a fixture in the empty database dsn: one simple
// query, so one transaction.
func loadSQL(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// makeFixtureSQL makes, in a fresh database, one of schema version n
// holding fixtureData and returns its SQL, as committed; dump is pg_dump.
func makeFixtureSQL(t *testing.T, dump string, n int) string {
	t.Helper()
	ctx := context.Background()
	dsn := newDB(t)
	if err := writeFixture(ctx, dsn, n); err != nil {
		t.Fatal(err)
	}
	sql, err := dumpDatabase(ctx, dump, dsn)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`-- A database of postel's PostgreSQL store at schema version %d, holding
-- the data of fixtureData in internal/store/postgres/upgrade_test.go, as
-- a postel whose newest migration was %d left it. Made once, by
--	%s
-- and never again: never edit it. Loads with psql -f into an empty
-- database of PostgreSQL 13 or later.
`, n, n, fixtureCommand(n)) + sql
}

// TestMakeSchemaFixture makes testdata/schema-vN.sql for -make-fixture=N,
// and checks it as TestUpgradeFromEveryVersion will. It does nothing
// without the flag.
func TestMakeSchemaFixture(t *testing.T) {
	n := *makeFixture
	if n == 0 {
		t.Skip("makes a fixture only when asked: " + fixtureCommand(len(migrations)-1))
	}
	dst := fixturePath(n)
	if _, err := os.Stat(dst); err == nil {
		t.Fatalf("%s exists: a fixture is made once and kept; remove it first to make it again", dst)
	}
	dump, err := findPgDump()
	if err != nil {
		t.Fatal(err)
	}
	sql := makeFixtureSQL(t, dump, n)
	checkUpgrade(t, sql, n)
	if t.Failed() {
		return
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, []byte(sql), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		t.Fatal(err)
	}
	t.Logf("made %s: %d bytes", dst, len(sql))
}

// TestUpgradeFromEveryVersion loads the fixture of every schema version
// before the newest, opens it with today's code and checks that nothing
// was lost. A fixture of the newest version, made now, is checked too: the
// generator must keep working for the next migration.
func TestUpgradeFromEveryVersion(t *testing.T) {
	for v := 1; v < len(migrations); v++ {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			t.Parallel()
			path := fixturePath(v)
			sql, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("no fixture of schema version %d (%v): every version before the newest needs one; make it with\n\t%s\nand commit %s",
					v, err, fixtureCommand(v), filepath.Join("internal/store/postgres", path))
			}
			checkUpgrade(t, string(sql), v)
		})
	}
	t.Run(fmt.Sprintf("v%d-made-now", len(migrations)), func(t *testing.T) {
		t.Parallel()
		checkUpgrade(t, makeFixtureSQL(t, pgDump(t), len(migrations)), len(migrations))
	})
}

// checkUpgrade loads sql, a database of schema version v, into a fresh
// database, opens it and checks it holds fixtureData, then that it takes
// new writes.
func checkUpgrade(t *testing.T, sql string, v int) {
	ctx := context.Background()
	dsn := newDB(t)
	if err := loadSQL(ctx, dsn, sql); err != nil {
		t.Fatalf("loading the version %d fixture: %v", v, err)
	}
	st, err := Open(ctx, dsn, Options{SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatalf("open of a version %d database: %v", v, err)
	}
	t.Cleanup(func() { st.Close() })
	// The follower's first look is followed by the janitor's first round;
	// after the second look, that round is done.
	caughtUp(t, []*Store{st})
	// The backfills run beside serving: their end is the event to wait for.
	<-st.backfillDone
	var pending int
	if err := st.pool.QueryRow(ctx, `SELECT COUNT(*) FROM backfill`).Scan(&pending); err != nil || pending != 0 {
		t.Fatalf("backfill tasks left: %d, %v", pending, err)
	}

	var version, count int
	if err := st.pool.QueryRow(ctx, `SELECT MAX(version), COUNT(*) FROM schema_version`).Scan(&version, &count); err != nil {
		t.Fatal(err)
	}
	if version != len(migrations) || count != len(migrations) {
		t.Errorf("schema_version after upgrade: %d (%d rows), want %d", version, count, len(migrations))
	}

	gaps := openGaps(t, v)
	checkUpgradedAccounts(t, st)
	for _, a := range fixtureData.Accounts {
		checkUpgradedMailboxes(t, st, a, gaps)
	}
	checkUpgradedQueue(t, st)
	checkUpgradedJanitor(t, st, v)
	checkWritesAfterUpgrade(t, st, dsn)
}

func checkUpgradedAccounts(t *testing.T, st *Store) {
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
			AuthEpoch: w.AuthEpoch,
		}
		exp.UsedBytes, _ = w.usage()
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
		// None is nil or empty, as it comes.
		if !slices.Equal(rules, w.JunkRules) || !slices.Equal(reps, w.Reputations) {
			t.Errorf("%s: junk rules %+v, reputations %+v; want %+v, %+v", w.Address, rules, reps, w.JunkRules, w.Reputations)
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

func checkUpgradedMailboxes(t *testing.T, st *Store, a fixtureAccount, gaps map[string]bool) {
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
		checkUpgradedMessages(t, st, a, w, gaps)
	}
}

func checkUpgradedMessages(t *testing.T, st *Store, a fixtureAccount, mb fixtureMailbox, gaps map[string]bool) {
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
		checkStoredMeta(t, fmt.Sprintf("%s UID %d", where, w.UID), metas[w.UID], b)

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
	searchGap := gaps["search"]
	for word, uids := range words {
		want := uids
		if searchGap {
			want = nil
		}
		for _, withHeaders := range []bool{false, true} {
			got, ok, err := st.SearchText(ctx, a.ID, mb.ID, []string{strings.ToUpper(word)}, withHeaders)
			if err != nil || !ok || !slices.Equal(got, want) {
				t.Errorf("%s: SearchText(%q, headers %v) = %v, %v, %v; want %v%s", where, word, withHeaders, got, ok, err, want, gapNote(searchGap, "search"))
			}
		}
	}
}

// checkStoredMeta compares stored metadata with what the delivery path
// makes of the same bytes today. The serialized envelope and structure are
// compared decoded: what matters is that today's FETCH reads them so.
func checkStoredMeta(t *testing.T, where string, got store.MessageMeta, b fixtureBlob) {
	want, err := fixtureMeta(b.Prefix, b.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != want.Subject || got.From != want.From || got.To != want.To || got.Cc != want.Cc || got.Bcc != want.Bcc ||
		got.MessageID != want.MessageID || !got.Date.Equal(want.Date) || got.InReplyTo != want.InReplyTo ||
		!slices.Equal(got.References, want.References) {
		t.Errorf("%s: header fields\n got %q %q %q %q %q %q %v %q %q\nwant %q %q %q %q %q %q %v %q %q", where,
			got.Subject, got.From, got.To, got.Cc, got.Bcc, got.MessageID, got.Date, got.InReplyTo, got.References,
			want.Subject, want.From, want.To, want.Cc, want.Bcc, want.MessageID, want.Date, want.InReplyTo, want.References)
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
		t.Errorf("%s: stored envelope %s, today's %s: old databases need a migration or a reader of the old form", where, got.Envelope, want.Envelope)
	}
	gst, err := message.UnmarshalStructure(got.Structure)
	if err != nil {
		t.Errorf("%s: stored structure: %v", where, err)
	}
	wst, _ := message.UnmarshalStructure(want.Structure)
	if !reflect.DeepEqual(gst, wst) {
		t.Errorf("%s: stored structure %s, today's %s: old databases need a migration or a reader of the old form", where, got.Structure, want.Structure)
	}
}

// fixtureQueueEntry is what Queue returns for w.
func fixtureQueueEntry(w fixtureQueued) store.QueueEntry {
	b := fixtureBlobByID(w.Blob)
	e := store.QueueEntry{
		ID: w.ID, AccountID: w.AccountID, From: w.From, Recipients: w.Recipients, DSNRet: w.DSNRet, DSNEnvID: w.DSNEnv,
		RequireTLS: w.RequireTLS, SMTPUTF8: w.UTF8, Size: int64(len(w.Prefix) + len(b.Body)),
		Created: time.Unix(w.Created, 0), NextAttempt: time.Unix(w.NextAttempt, 0), Attempts: w.Attempts, Prefix: []byte(w.Prefix),
		LeaseOwner: w.LeaseOwner,
	}
	if w.LeaseUntil != 0 {
		e.LeaseUntil = time.Unix(w.LeaseUntil, 0)
	}
	return e
}

func checkUpgradedQueue(t *testing.T, st *Store) {
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
		exp := fixtureQueueEntry(w)
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
		if err != nil || sent != len(w.Recipients) {
			t.Errorf("SentToday(%d) = %d, %v; want %d", w.AccountID, sent, err, len(w.Recipients))
		}
	}
}

// checkUpgradedJanitor checks the blobs' reference counts, and what the
// janitor's first round made of what the old version left: released blobs,
// old change rows, failed logins and leases, all of which it deletes once
// they are old enough.
func checkUpgradedJanitor(t *testing.T, st *Store, v int) {
	ctx := context.Background()
	now := time.Now()
	rows, err := st.pool.Query(ctx, `SELECT b.id, b.refs, b.released IS NOT NULL,
			(SELECT COUNT(*) FROM messages WHERE blob_id = b.id) + (SELECT COUNT(*) FROM queue WHERE blob_id = b.id)
		FROM blobs b ORDER BY b.id`)
	if err != nil {
		t.Fatal(err)
	}
	type blobRow struct {
		id       int64
		refs     int
		released bool
		users    int
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (blobRow, error) {
		var b blobRow
		err := r.Scan(&b.id, &b.refs, &b.released, &b.users)
		return b, err
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []blobRow
	for _, b := range fixtureData.Blobs {
		switch {
		case b.used():
			want = append(want, blobRow{b.ID, fixtureRefs(b.ID), false, fixtureRefs(b.ID)})
		case b.kept() && now.Add(-blobGrace).Unix() <= b.Released:
			want = append(want, blobRow{b.ID, 0, true, 0})
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("blobs (id, refs, released, users) after the janitor's first round:\n got %v\nwant %v", got, want)
	}
	var orphans int
	if err := st.pool.QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM blob_chunks c WHERE NOT EXISTS (SELECT 1 FROM blobs WHERE id = c.blob_id))
		+ (SELECT COUNT(*) FROM blob_text x WHERE NOT EXISTS (SELECT 1 FROM blobs WHERE id = x.blob_id))`).Scan(&orphans); err != nil || orphans != 0 {
		t.Errorf("chunks or text of deleted blobs: %d, %v", orphans, err)
	}

	var seqs []int64
	for _, c := range fixtureData.Changes {
		if now.Add(-feedKeep).Unix() <= c.Created {
			seqs = append(seqs, c.Seq)
		}
	}
	rows, err = st.pool.Query(ctx, `SELECT seq FROM changes ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	if have, err := pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil || !slices.Equal(have, seqs) {
		t.Errorf("change feed rows after the janitor's first round: %v, %v; want %v", have, err, seqs)
	}

	if v < fixtureSince.shared {
		return
	}
	sources := map[string]int{} // failures kept, by source
	for _, f := range fixtureData.LoginFailures {
		kept := 0
		if now.Add(-loginFailureKeep).Unix() <= f.At {
			kept = 1
		}
		sources[f.Source] += kept
	}
	for src, want := range sources {
		if n, err := st.CountLoginFailures(ctx, src, time.Unix(0, 0)); err != nil || n != want {
			t.Errorf("CountLoginFailures(%s) = %d, %v; want %d", src, n, err, want)
		}
	}
	for _, l := range fixtureData.Leases {
		err := st.AcquireLease(ctx, l.Name, "mx2.example.org/1", time.Minute)
		if running := now.Unix() < l.Expires; running != errors.Is(err, store.ErrInUse) || !running && err != nil {
			t.Errorf("AcquireLease(%s) by another owner = %v; the old lease runs: %v", l.Name, err, running)
		}
	}
}

// checkWritesAfterUpgrade delivers, flags, expunges, queues and creates in
// the upgraded store: UIDs, MODSEQs, IDs and the change feed go on from
// where the old data left them, and another node sees the new changes.
func checkWritesAfterUpgrade(t *testing.T, st *Store, dsn string) {
	ctx := context.Background()
	a := fixtureData.Accounts[0]
	inbox := a.Mailboxes[0]
	last := map[string]int64{}
	for _, s := range fixtureSequences() {
		last[s.table] = s.last
	}

	// A queue entry leased by a node that stopped for the upgrade is
	// taken over once the lease ran out.
	claimed, err := st.ClaimQueue(ctx, "mx2.example.org/1", time.Now(), time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	var claimedIDs []int64
	for _, e := range claimed {
		claimedIDs = append(claimedIDs, e.ID)
		if e.LeaseOwner != "mx2.example.org/1" {
			t.Errorf("claimed queue entry %d: lease owner %q", e.ID, e.LeaseOwner)
		}
		e.LeaseOwner, e.LeaseUntil = "", time.Time{}
		for _, w := range fixtureData.Queue {
			exp := fixtureQueueEntry(w)
			exp.LeaseOwner, exp.LeaseUntil = "", time.Time{}
			if w.ID == e.ID && !reflect.DeepEqual(e, exp) {
				t.Errorf("claimed queue entry %d:\n got %+v\nwant %+v", e.ID, e, exp)
			}
		}
	}
	var wantClaimed []int64
	for _, w := range fixtureData.Queue {
		wantClaimed = append(wantClaimed, w.ID)
	}
	if !slices.Equal(claimedIDs, wantClaimed) {
		t.Errorf("ClaimQueue after upgrade took %v, want %v", claimedIDs, wantClaimed)
	}

	// Another node follows the feed.
	node2, err := Open(ctx, dsn, Options{SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer node2.Close()
	sub := node2.Subscribe(a.ID)
	defer sub.Close()

	prefix := "Return-Path: <bob@example.org>\r\nReceived: from mail.example.org by mx.example.org with ESMTPS id u1; Fri, 16 Jan 2026 09:00:00 +0000\r\n"
	body := "From: Bob <bob@example.org>\r\nTo: alice@example.org\r\nSubject: After the upgrade\r\n\r\nA gooseberry, freshly indexed.\r\n"
	d, err := deliver.Prepare(storetest.Spool(t, st, body), []byte(prefix), []store.Target{{AccountID: a.ID}})
	if err != nil {
		t.Fatal(err)
	}
	d.Queue = &store.QueueEntry{AccountID: a.ID, From: a.Address, Prefix: []byte("Received: test\r\n"),
		Recipients: []store.QueueRcpt{{Address: "dave@remote.example"}}}
	got, err := st.Deliver(ctx, d)
	if err != nil {
		t.Fatalf("delivery after upgrade: %v", err)
	}
	if got[0].UID != inbox.UIDNext || got[0].UIDValidity != inbox.UIDValidity || got[0].MessageID <= last["messages"] || got[0].QueueID <= last["queue"] {
		t.Errorf("delivery after upgrade: %+v; want UID %d, UIDVALIDITY %d, message ID above %d, queue ID above %d",
			got[0], inbox.UIDNext, inbox.UIDValidity, last["messages"], last["queue"])
	}
	// Its blob and change row must not take the ID of an old one.
	var blobID, seq int64
	if err := st.pool.QueryRow(ctx, `SELECT (SELECT blob_id FROM messages WHERE id = $1), (SELECT MAX(seq) FROM changes)`,
		got[0].MessageID).Scan(&blobID, &seq); err != nil {
		t.Fatal(err)
	}
	if blobID <= last["blobs"] || seq <= last["changes"] {
		t.Errorf("new blob ID %d, change seq %d; want them above the old %d, %d", blobID, seq, last["blobs"], last["changes"])
	}
	changes := waitChange(t, sub, store.ChangeAdded, 10*time.Second)
	if c := changes[len(changes)-1]; c.MailboxID != inbox.ID || !slices.Equal(c.UIDs, []uint32{inbox.UIDNext}) || c.ModSeq != inbox.HighestModSeq+1 {
		t.Errorf("the other node saw %+v; want UID %d, MODSEQ %d in mailbox %d", c, inbox.UIDNext, inbox.HighestModSeq+1, inbox.ID)
	}
	if uids, ok, err := st.SearchText(ctx, a.ID, inbox.ID, []string{"gooseberry"}, false); err != nil || !ok || !slices.Equal(uids, []uint32{inbox.UIDNext}) {
		t.Errorf("SearchText of the new message = %v, %v, %v", uids, ok, err)
	}

	changed, err := st.StoreFlags(ctx, a.ID, inbox.ID, []uint32{inbox.Messages[0].UID}, store.FlagsAdd, []string{store.FlagFlagged}, 0)
	if want := inbox.HighestModSeq + 2; err != nil || len(changed) != 1 || changed[0].ModSeq != want {
		t.Errorf("StoreFlags after upgrade = %+v, %v; want MODSEQ %d", changed, err, want)
	}
	gone, err := st.Expunge(ctx, a.ID, inbox.ID, []uint32{inbox.Messages[0].UID})
	if want := inbox.HighestModSeq + 3; err != nil || len(gone) != 1 || gone[0].ModSeq != want {
		t.Errorf("Expunge after upgrade = %+v, %v; want MODSEQ %d", gone, err, want)
	}
	if exp, err := st.ExpungedSince(ctx, a.ID, inbox.ID, inbox.HighestModSeq); err != nil ||
		!slices.Equal(exp, []store.Expunged{{UID: inbox.Messages[0].UID, ModSeq: inbox.HighestModSeq + 3}}) {
		t.Errorf("ExpungedSince(%d) after the expunge = %v, %v", inbox.HighestModSeq, exp, err)
	}
	// INBOX 1 shares its blob with Projects/2026 3: the blob stays, in use.
	shared := slices.IndexFunc(a.Mailboxes, func(mb fixtureMailbox) bool { return mb.Name == "Projects/2026" })
	copyOf := a.Mailboxes[shared]
	if r, err := st.OpenMessage(ctx, a.ID, copyOf.ID, copyOf.Messages[0].UID); err != nil {
		t.Errorf("the copy of an expunged message: %v", err)
	} else {
		raw, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(raw, fixtureBlobByID(copyOf.Messages[0].Blob).raw()) {
			t.Errorf("the copy of an expunged message reads %d bytes, %v", len(raw), err)
		}
	}
	var refs int
	var released bool
	if err := st.pool.QueryRow(ctx, `SELECT refs, released IS NOT NULL FROM blobs WHERE id = $1`, copyOf.Messages[0].Blob).Scan(&refs, &released); err != nil ||
		refs != fixtureRefs(copyOf.Messages[0].Blob)-1 || released {
		t.Errorf("blob %d after one of its messages was expunged: refs %d, released %v, %v; want refs %d",
			copyOf.Messages[0].Blob, refs, released, err, fixtureRefs(copyOf.Messages[0].Blob)-1)
	}
	used, msgs, err := st.Usage(ctx, a.ID)
	wb, wm := a.usage()
	wb += int64(len(prefix)+len(body)) - inbox.Messages[0].size()
	if err != nil || used != wb || msgs != wm {
		t.Errorf("Usage after writes = %d, %d, %v; want %d, %d", used, msgs, err, wb, wm)
	}

	acct, err := st.CreateAccount(ctx, "dave@example.org", store.Credentials{PasswordHash: "hash"})
	if err != nil {
		t.Fatal(err)
	}
	if acct.ID <= last["accounts"] {
		t.Errorf("new account ID %d, not above the old %d", acct.ID, last["accounts"])
	}
	mbs, err := st.ListMailboxes(ctx, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, mb := range mbs {
		if mb.ID <= last["mailboxes"] {
			t.Errorf("new mailbox %s ID %d, not above the old %d", mb.Name, mb.ID, last["mailboxes"])
		}
	}
}

// TestSchemaTooNewKeepsData: a database holding data, which a newer
// postel migrated, is refused with an error naming both versions, and
// left exactly as it was: its pg_dump, taken before and after each
// attempt, is the same. (TestSchemaTooNew compares its shape.)
func TestSchemaTooNewKeepsData(t *testing.T) {
	ctx := context.Background()
	dump := pgDump(t)
	dsn := newDB(t)
	if err := writeFixture(ctx, dsn, len(migrations)); err != nil {
		t.Fatal(err)
	}
	newer := len(migrations) + 1
	err := loadSQL(ctx, dsn, fmt.Sprintf(`INSERT INTO schema_version (version, applied) VALUES (%d, %d);
		CREATE TABLE from_the_future (x integer);
		INSERT INTO from_the_future VALUES (1)`, newer, fixtureTime))
	if err != nil {
		t.Fatal(err)
	}
	before, err := dumpDatabase(ctx, dump, dsn)
	if err != nil {
		t.Fatal(err)
	}
	for try := 1; try <= 2; try++ {
		st, err := Open(ctx, dsn, Options{SpoolDir: t.TempDir()})
		if err == nil {
			st.Close()
			t.Fatalf("Open %d of a schema version %d database succeeded", try, newer)
		}
		msg := err.Error()
		if !errors.Is(err, ErrSchemaTooNew) || !mentionsNumber(msg, newer) || !mentionsNumber(msg, len(migrations)) || !strings.Contains(msg, "newer") {
			t.Errorf("Open %d error %q: want ErrSchemaTooNew naming version %d, the known %d, and saying a newer postel is needed",
				try, msg, newer, len(migrations))
		}
		after, err := dumpDatabase(ctx, dump, dsn)
		if err != nil {
			t.Fatal(err)
		}
		if after != before {
			t.Fatalf("Open %d of a too new database changed it:\n%s", try, firstDifference(before, after))
		}
	}
}

// mentionsNumber tells whether msg holds the number n as a word.
func mentionsNumber(msg string, n int) bool {
	return regexp.MustCompile(`\b` + strconv.Itoa(n) + `\b`).MatchString(msg)
}

// firstDifference shows the first line where a and b differ.
func firstDifference(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(al), len(bl)) {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n-%s\n+%s", i+1, x, y)
		}
	}
	return "no line differs"
}
