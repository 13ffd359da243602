package storetest

// The data of the stores' upgrade tests (internal/store/sqlite and
// internal/store/postgres, upgrade_test.go), and the checks, through the
// store's API, that an upgraded store still holds it. Each store keeps in
// its own test how a fixture of one of its schema versions is made from
// UpgradeData (raw SQL of that version), how it is loaded, and what only
// that store has to check (its files, blob rows, change feed, leases).

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"postel/internal/store"
)

// UpgradeFixtureTime is when the fixtures' data was made:
// 2026-01-15T00:00:00Z.
const UpgradeFixtureTime = 1768435200

// UpgradeFixture is everything the fixtures hold, and so what the checks
// expect: one table for both, so they cannot drift apart.
type UpgradeFixture struct {
	Domains  []string
	Accounts []UpgradeAccount
	Aliases  []store.Alias // sorted as ListAliases returns them
	Blobs    []UpgradeBlob
	Queue    []UpgradeQueued
}

// UpgradeData returns a new copy of the data the committed fixtures of
// both stores were made from: never change what is here, or they no
// longer match. A store changes its copy only where its fixtures always
// held something else. Data a new migration brings goes on top, written
// and expected only from its version on.
func UpgradeData() *UpgradeFixture {
	return &UpgradeFixture{
		Domains: []string{"example.net", "example.org"},
		Accounts: []UpgradeAccount{{
			ID: 1, Address: "alice@example.org",
			Cred: store.Credentials{
				PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$YWxpY2Utc2FsdA$QUxJQ0UtSEFTSC1BTElDRS1IQVNILUFMSUNFLUg",
				SCRAMSHA256:  "YWxpY2Utc2NyYW0,4096,U1RPUkVELUtFWS1BTElDRQ,U0VSVkVSLUtFWS1BTElDRQ",
			},
			Quota: 10 << 20,
			Mailboxes: []UpgradeMailbox{
				{ID: 1, Name: "INBOX", UIDValidity: 1768400001, UIDNext: 8, HighestModSeq: 12, Subscribed: true, RecentUID: 5,
					Messages: []UpgradeMessage{
						{ID: 1, UID: 1, ModSeq: 9, Flags: []string{`\Seen`}, Blob: 1, Internal: UpgradeFixtureTime + 9*3600},
						{ID: 2, UID: 2, ModSeq: 12, Flags: []string{`\Answered`, `\Seen`, "$label1"}, Blob: 2, Internal: UpgradeFixtureTime + 9*3600 + 1200},
						{ID: 5, UID: 5, ModSeq: 6, Blob: 4, Internal: UpgradeFixtureTime + 10*3600},
						{ID: 10, UID: 7, ModSeq: 8, Flags: []string{`\Flagged`, `\Seen`, "$important", "work"}, Blob: 5, Internal: UpgradeFixtureTime + 11*3600},
					},
					Expunged: []store.Expunged{{UID: 3, ModSeq: 10}, {UID: 4, ModSeq: 11}, {UID: 6, ModSeq: 10}}},
				{ID: 2, Name: "Sent", Role: store.RoleSent, UIDValidity: 1768400002, UIDNext: 2, HighestModSeq: 2, Subscribed: true,
					Messages: []UpgradeMessage{
						{ID: 6, UID: 1, ModSeq: 2, Flags: []string{`\Seen`}, Blob: 6, Internal: UpgradeFixtureTime + 9*3600 + 1800},
					}},
				{ID: 3, Name: "Drafts", Role: store.RoleDrafts, UIDValidity: 1768400003, UIDNext: 3, HighestModSeq: 4, Subscribed: true,
					Messages: []UpgradeMessage{
						{ID: 8, UID: 2, ModSeq: 3, Flags: []string{`\Draft`, `\Seen`}, Blob: 7, Internal: UpgradeFixtureTime + 12*3600},
					},
					Expunged: []store.Expunged{{UID: 1, ModSeq: 4}}},
				{ID: 4, Name: "Trash", Role: store.RoleTrash, UIDValidity: 1768400004, UIDNext: 2, HighestModSeq: 3, Subscribed: true,
					Messages: []UpgradeMessage{
						{ID: 9, UID: 1, ModSeq: 3, Flags: []string{`\Deleted`, `\Seen`}, Blob: 8, Internal: UpgradeFixtureTime - 17*3600},
					}},
				{ID: 5, Name: "Junk", Role: store.RoleJunk, UIDValidity: 1768400005, UIDNext: 1, HighestModSeq: 1},
				{ID: 6, Name: "Archive", Role: store.RoleArchive, UIDValidity: 1768400006, UIDNext: 1, HighestModSeq: 1, Subscribed: true},
				{ID: 7, Name: "Projects/2026", UIDValidity: 1768400007, UIDNext: 4, HighestModSeq: 5, Subscribed: true,
					Messages: []UpgradeMessage{
						// A copy of INBOX 1: the same body.
						{ID: 11, UID: 3, ModSeq: 5, Flags: []string{`\Seen`, "project"}, Blob: 1, Internal: UpgradeFixtureTime + 9*3600},
					},
					Expunged: []store.Expunged{{UID: 1, ModSeq: 4}, {UID: 2, ModSeq: 4}}},
			},
			// Subscribed without a mailbox (deleted, or never made).
			Subscriptions: []string{"Lists/Old"},
			JunkRules: []store.JunkRule{
				{Kind: store.JunkAllow, Pattern: "friend@elsewhere.example"},
				{Kind: store.JunkBlock, Pattern: "spam.example"},
			},
			Reputations: []store.SenderReputation{
				{Sender: "news@lists.example", Spam: 2, Ham: 1, Last: store.MarkSpam},
			},
			Metadata: []UpgradeMetadata{
				{Name: "/shared/comment", Value: []byte("alice's server note")},
				{MailboxID: 1, Mailbox: "INBOX", Name: "/private/comment", Value: []byte("inbox note")},
				{MailboxID: 7, Mailbox: "Projects/2026", Name: "/private/vendor/example/bin", Value: []byte{0, 1, 2}},
				{MailboxID: 7, Mailbox: "Projects/2026", Name: "/shared/empty", Value: []byte{}},
			},
		}, {
			ID: 2, Address: "bob@example.org", Disabled: true,
			Cred: store.Credentials{
				PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$Ym9iLXNhbHQ$Qk9CLUhBU0gtQk9CLUhBU0gtQk9CLUhBU0gtQk9C",
			},
			Mailboxes: []UpgradeMailbox{
				{ID: 8, Name: "INBOX", UIDValidity: 1768400101, UIDNext: 2, HighestModSeq: 2, Subscribed: true,
					Messages: []UpgradeMessage{
						{ID: 12, UID: 1, ModSeq: 2, Flags: []string{"$junk"}, Blob: 9, Internal: UpgradeFixtureTime + 13*3600},
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
			Mailboxes: []UpgradeMailbox{
				{ID: 15, Name: "INBOX", UIDValidity: 1768400201, UIDNext: 3, HighestModSeq: 4, Subscribed: true,
					Messages: []UpgradeMessage{
						{ID: 13, UID: 1, ModSeq: 4, Flags: []string{`\Answered`, `\Seen`, "$mdnsent"}, Blob: 10, Internal: UpgradeFixtureTime + 14*3600},
						{ID: 14, UID: 2, ModSeq: 3, Blob: 11, Internal: UpgradeFixtureTime + 15*3600},
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
		Blobs: []UpgradeBlob{
			{ID: 1, Word: "marmalade",
				Prefix: "Return-Path: <bob@example.org>\r\nReceived: from mail.example.org by mx.example.org with ESMTPS id f1; Thu, 15 Jan 2026 09:00:00 +0000\r\n",
				Body: CRLF(`From: Bob <bob@example.org>
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
				Body: CRLF(`From: Carol <carol@example.net>
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
				Body: CRLF(`From: =?UTF-8?Q?J=C3=BCrgen?= <juergen@elsewhere.example>
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
				Body: CRLF(`From: Dave <dave@remote.example>
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
				Body: CRLF(`From: Alice <alice@example.org>
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
				Body: CRLF(`From: Alice <alice@example.org>
To: bob@example.org
Subject: Draft: recipe

Quinoa, two cups; water, four.
`)},
			{ID: 8, Word: "walrus",
				Prefix: "Return-Path: <bounces@lists.example>\r\nReceived: from lists.example by mx.example.org with ESMTPS id f8; Mon, 12 Jan 2026 07:00:01 +0000\r\n",
				Body: CRLF(`From: News <news@lists.example>
To: alice@example.org
Subject: Weekly news
Date: Mon, 12 Jan 2026 07:00:00 +0000
Message-ID: <n-42@lists.example>
List-Id: <weekly.lists.example>

All about the walrus this week.
`)},
			{ID: 9, Word: "kangaroo",
				Prefix: "Return-Path: <alice@example.org>\r\nReceived: from [192.0.2.10] by mx.example.org with ESMTPSA id s9; Thu, 15 Jan 2026 13:00:00 +0000\r\n",
				Body: CRLF(`From: Alice <alice@example.org>
To: Bob <bob@example.org>
Subject: Welcome back
Date: Thu, 15 Jan 2026 13:00:00 +0000
Message-ID: <welcome@example.org>

The kangaroo says hello.
`)},
			// To the catch-all of example.net.
			{ID: 10, Word: "hedgehog",
				Prefix: "Return-Path: <buyer@shop.example>\r\nReceived: from mx.shop.example by mx.example.org with ESMTP id f10; Thu, 15 Jan 2026 14:00:00 +0000\r\n",
				Body: CRLF(`From: buyer@shop.example
To: sales@example.net
Subject: Pricing question
Date: Thu, 15 Jan 2026 14:00:00 +0000
Message-ID: <q-7@shop.example>

How much for the hedgehog edition?
`)},
			{ID: 11, Word: "platypus",
				Prefix: "Return-Path: <bob@example.org>\r\nReceived: from mail.example.org by mx.example.org with ESMTPS id f11; Thu, 15 Jan 2026 15:00:00 +0000\r\n",
				Body: CRLF(`From: Bob <bob@example.org>
To: Carol <carol@example.net>
Subject: Photos
Date: Thu, 15 Jan 2026 15:00:00 +0000
Message-ID: <photos@example.org>

The platypus pictures, as promised.
`)},
			{ID: 12, Gone: true},
		},
		Queue: []UpgradeQueued{{
			ID: 3, AccountID: 1, From: "alice@example.org", Blob: 6,
			Prefix:  "Received: from [192.0.2.10] by mx.example.org with ESMTPSA id s6; Thu, 15 Jan 2026 09:30:00 +0000\r\n",
			DSNRet:  "HDRS",
			DSNEnv:  "report-1",
			Created: UpgradeFixtureTime + 9*3600 + 1800, NextAttempt: UpgradeFixtureTime + 10*3600, Attempts: 1,
			// Leased when the server stopped for the upgrade.
			LeaseOwner: "mx1.example.org/2", LeaseUntil: UpgradeFixtureTime + 10*3600 + 300,
			Recipients: []store.QueueRcpt{
				{Address: "dave@remote.example", Notify: []string{"FAILURE", "DELAY"}, ORcpt: "rfc822;dave@remote.example",
					Status: "pending", Attempts: 1, LastReply: "451 4.3.0 try again later", LastChange: time.Unix(UpgradeFixtureTime+9*3600+1801, 0)},
				{Address: "erin@other.example", Status: "delivered", Attempts: 1, LastReply: "250 2.0.0 ok",
					LastChange: time.Unix(UpgradeFixtureTime+9*3600+1802, 0)},
			},
		}},
	}
}

type UpgradeAccount struct {
	ID        int64
	Address   string
	Cred      store.Credentials
	Quota     int64
	Disabled  bool
	AuthEpoch int64 // from UpgradeChecks.AuthEpochSince
	// Mailboxes are the defaults (store.DefaultMailboxes) and one nested.
	Mailboxes   []UpgradeMailbox
	JunkRules   []store.JunkRule         // from UpgradeChecks.JunkSince; sorted by kind, pattern
	Reputations []store.SenderReputation // from UpgradeChecks.JunkSince; sorted by sender
	Metadata    []UpgradeMetadata        // from UpgradeChecks.MetadataSince; sorted by mailbox, name
	// Subscriptions are the subscribed names that are no mailbox, from
	// UpgradeChecks.SubscriptionsSince; before, Subscribed of the
	// mailboxes is all there is.
	Subscriptions []string
}

// UpgradeMetadata is one METADATA entry (RFC 5464, store.Metadata):
// MailboxID 0 (Mailbox "") for the account's server entries.
type UpgradeMetadata struct {
	MailboxID int64
	Mailbox   string
	Name      string
	Value     []byte
}

type UpgradeMailbox struct {
	ID            int64
	Name, Role    string
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	Subscribed    bool
	// RecentUID is the recent boundary (store.Mailbox.RecentUID), from
	// UpgradeChecks.RecentSince; the migration that brought it set it to
	// UIDNext-1.
	RecentUID uint32
	Messages  []UpgradeMessage // in UID order
	Expunged  []store.Expunged // in UID order
}

type UpgradeMessage struct {
	ID     int64
	UID    uint32
	ModSeq uint64
	// Flags as Message.Flags has them: system flags in store.JoinFlags
	// order, then keywords, lower case and sorted.
	Flags    []string
	Blob     int64 // UpgradeBlob.ID; a copy shares its original's
	Internal int64 // Unix seconds; the save date is a minute later
}

// UpgradeBlob is one body and the prefix of the messages using it.
type UpgradeBlob struct {
	ID     int64
	Prefix string
	Body   string
	Word   string // found only in this body, for SearchText
	// Gone: its messages were expunged and the body deleted.
	Gone bool
	// Released: its messages were expunged at this time (Unix seconds),
	// and the body was not deleted yet (a store that keeps it a while).
	Released int64
}

type UpgradeQueued struct {
	ID, AccountID    int64
	From             string
	Blob             int64
	Prefix           string
	DSNRet, DSNEnv   string
	Created          int64
	NextAttempt      int64
	Attempts         int
	LeaseOwner       string // from UpgradeChecks.LeaseOwnerSince
	LeaseUntil       int64
	Recipients       []store.QueueRcpt // sorted by address
	RequireTLS, UTF8 bool
}

// CRLF turns the line ends of s into CRLF.
func CRLF(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// Blob is the blob of ID id.
func (f *UpgradeFixture) Blob(id int64) UpgradeBlob {
	for _, b := range f.Blobs {
		if b.ID == id {
			return b
		}
	}
	panic(fmt.Sprintf("fixture has no blob %d", id))
}

// Raw is the message as stored and read: prefix, then body.
func (b UpgradeBlob) Raw() []byte { return []byte(b.Prefix + b.Body) }

// Kept tells whether the blob is still stored.
func (b UpgradeBlob) Kept() bool { return !b.Gone }

// Used tells whether messages use the blob.
func (b UpgradeBlob) Used() bool { return !b.Gone && b.Released == 0 }

// Size is the size of message m.
func (f *UpgradeFixture) Size(m UpgradeMessage) int64 { return int64(len(f.Blob(m.Blob).Raw())) }

// Usage is what the account's messages take: Usage and used_bytes.
func (f *UpgradeFixture) Usage(a UpgradeAccount) (bytes, messages int64) {
	for _, mb := range a.Mailboxes {
		for _, m := range mb.Messages {
			bytes += f.Size(m)
			messages++
		}
	}
	return bytes, messages
}

// Refs counts the users of blob id: messages and queue entries.
func (f *UpgradeFixture) Refs(id int64) int {
	n := 0
	for _, a := range f.Accounts {
		for _, mb := range a.Mailboxes {
			for _, m := range mb.Messages {
				if m.Blob == id {
					n++
				}
			}
		}
	}
	for _, q := range f.Queue {
		if q.Blob == id {
			n++
		}
	}
	return n
}

// MaxMessageID is the largest message ID the fixture gave.
func (f *UpgradeFixture) MaxMessageID() int64 {
	var id int64
	for _, a := range f.Accounts {
		for _, mb := range a.Mailboxes {
			for _, m := range mb.Messages {
				id = max(id, m.ID)
			}
		}
	}
	return id
}

// QueueEntry is what Queue returns for w, with its lease owner.
func (f *UpgradeFixture) QueueEntry(w UpgradeQueued) store.QueueEntry {
	b := f.Blob(w.Blob)
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

// Check checks that the fixture is what a store could hold: the default
// mailboxes, flags as the store keeps them, UIDs below UIDNext, MODSEQs up
// to HIGHESTMODSEQ, messages only on blobs in use, each word in its
// body's text only.
func (f *UpgradeFixture) Check() error {
	for _, a := range f.Accounts {
		for _, def := range store.DefaultMailboxes {
			i := slices.IndexFunc(a.Mailboxes, func(mb UpgradeMailbox) bool { return mb.Name == def.Name })
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
				if !f.Blob(m.Blob).Used() {
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
	for _, b := range f.Blobs {
		if b.Used() != (f.Refs(b.ID) > 0) {
			return fmt.Errorf("fixture: blob %d has %d users", b.ID, f.Refs(b.ID))
		}
		if !b.Kept() {
			continue
		}
		for _, o := range f.Blobs {
			if strings.Contains(strings.ToLower(o.Prefix+o.Body), b.Word) != (o.ID == b.ID) {
				return fmt.Errorf("fixture: word %q of blob %d in blob %d", b.Word, b.ID, o.ID)
			}
		}
	}
	return nil
}
