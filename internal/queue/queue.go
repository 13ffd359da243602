// Package queue delivers the outbound queue: workers claim due entries
// from the store, group their recipients by destination domain, walk each
// domain's MX hosts (RFC 5321 §5), and run one SMTP transaction per domain
// with go-smtp's client, over STARTTLS whenever offered, DANE (RFC 7672)
// and MTA-STS (RFC 8461) deciding when TLS must verify, REQUIRETLS (RFC
// 8689) honoured. Temporary failures are retried with growing intervals for
// a lifetime; permanent failures, expired messages, delays and requested
// successes are reported to the sender by DSNs (RFC 3461, RFC 3464).
// Outgoing mail is DKIM-signed when a signer is given.
//
// Invariants:
//   - A recipient leaves the "pending" state only after the remote server
//     accepted the message or refused it for good and the DSN (when one is
//     due) is stored; an entry leaves the store only when no recipient is
//     pending (store.UpdateQueue).
//   - An entry is worked on only under a lease (store.ClaimQueue) whose
//     owner token is new for every claim; an attempt ends before the lease
//     does, so that no other worker takes the entry while this one still
//     sends it, and should one overrun its lease anyway, the store refuses
//     its record (store.ErrLeaseLost) once another worker (of this node or
//     another) has claimed the entry. A worker that dies loses the
//     entry when the lease runs out: the message is then sent again, at
//     least once, possibly twice when the remote had already accepted it.
//   - No DSN goes to the null reverse-path, and DSNs are sent from it: a
//     DSN is never itself reported on, so bounces cannot loop.
//   - Every log line about an entry carries its queue_id.
package queue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"postel/internal/deliver"
	"postel/internal/dkim"
	"postel/internal/dns"
	"postel/internal/maillog"
	"postel/internal/store"
)

// maxParallelDomains bounds the domains of one message delivered at once.
const maxParallelDomains = 4

// storeTimeout bounds the store updates after an attempt.
const storeTimeout = time.Minute

// Store is what the queue uses of the store: the outbound queue, the
// directory (its router, for DSNs to local senders) and the ingest path
// (DSNs).
type Store interface {
	store.Outbound
	store.Ingest
	deliver.Recipients
}

// Queue delivers the store's outbound queue.
type Queue struct {
	cfg    Config
	st     Store
	owner  string        // this Queue's part of every lease owner token
	claims atomic.Uint64 // numbers the claims: each has its own token
	res    dns.Resolver
	signer *dkim.Signer
	log    *slog.Logger
	router *deliver.Router
	pool   *pool
	sts    *stsCache
	limits *limiter
	kick   chan struct{}
}

// New returns a Queue over st, resolving with res and signing with signer
// (nil: mail goes unsigned).
func New(cfg Config, st Store, res dns.Resolver, signer *dkim.Signer, log *slog.Logger) *Queue {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	log = log.With("service", "queue")
	return &Queue{
		cfg:    cfg,
		st:     st,
		owner:  leaseOwner(),
		res:    res,
		signer: signer,
		log:    log,
		router: deliver.NewRouter(st),
		pool:   newPool(cfg.MaxIdlePerHost, cfg.IdleTimeout),
		sts:    newSTSCache(res, cfg.HTTPClient, log),
		limits: newLimiter(cfg.PerDomainConcurrency, cfg.PerDomainRate),
		kick:   make(chan struct{}, 1),
	}
}

// leaseOwner names this process among every node's queue workers: the
// host, the process and a random part (a restarted process on the same
// host has another).
func leaseOwner() string {
	host, _ := os.Hostname()
	var b [6]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// Kick wakes the workers: mail was just queued.
func (q *Queue) Kick() {
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends: it claims due entries for the free workers
// whenever woken (Kick, a worker done, or every PollInterval). When ctx ends
// the attempts under way are cut short, what they achieved is recorded, and
// Run returns nil once they have finished.
func (q *Queue) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer q.pool.closeAll()
	defer wg.Wait()
	done := make(chan struct{}, q.cfg.Workers)
	tick := time.NewTicker(q.cfg.PollInterval)
	defer tick.Stop()
	busy, more := 0, true
	for {
		if more && busy < q.cfg.Workers {
			want := q.cfg.Workers - busy
			owner := fmt.Sprintf("%s#%d", q.owner, q.claims.Add(1))
			entries, err := q.st.ClaimQueue(ctx, owner, time.Now(), q.cfg.Lease, want)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				q.log.Error("claiming queue entries", "err", err)
			}
			for _, e := range entries {
				busy++
				wg.Add(1)
				go func() {
					defer wg.Done()
					q.process(ctx, e)
					done <- struct{}{}
				}()
			}
			// A full batch: more may be due as soon as a worker is free.
			more = err == nil && len(entries) == want
		}
		select {
		case <-ctx.Done():
			return nil
		case <-done:
			busy--
		case <-q.kick:
			more = true
		case <-tick.C:
			more = true
			q.pool.prune()
		}
	}
}

// attemptTimeout is how long an attempt may take: the lease less a margin
// for recording its results.
func (q *Queue) attemptTimeout() time.Duration {
	return q.cfg.Lease - min(q.cfg.Lease/5, 2*time.Minute)
}

// process makes one delivery attempt of a claimed entry and records it.
func (q *Queue) process(ctx context.Context, e store.QueueEntry) {
	start := time.Now()
	log := q.log.With("queue_id", e.ID)
	out := make([]outcome, len(e.Recipients))
	actx, cancel := context.WithTimeout(ctx, q.attemptTimeout())
	defer cancel()

	msg, err := q.st.OpenQueued(actx, e.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return // dropped meanwhile
	case err != nil:
		log.Error("opening queued message", "err", err)
		for i := range out {
			out[i] = outcome{attempted: true, reply: replyLocal("cannot read the queued message")}
		}
	default:
		q.attempt(actx, log, &e, msg, out)
		msg.Close()
	}
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer scancel()
	q.finish(sctx, log, &e, out, start)
}

// attempt delivers the message to the pending recipients, one transaction
// per domain, several domains at once.
func (q *Queue) attempt(ctx context.Context, log *slog.Logger, e *store.QueueEntry, msg store.MessageReader, out []outcome) {
	var sig []byte
	// Only mail an authenticated user submitted is signed: its From was
	// checked against the account (deliver.MaySendAs). Mail forwarded by an
	// alias or catch-all came from anyone, and our signature must not vouch
	// for its From.
	if e.AccountID != 0 {
		sig = q.sign(log, msg)
	}
	var jobs []*domainJob
	byDomain := map[string]*domainJob{}
	for i, r := range e.Recipients {
		if r.Status != "pending" {
			continue
		}
		d := recipientDomain(r.Address)
		if d == "" {
			out[i] = outcome{attempted: true, reply: reply{code: 553, status: "5.1.3", text: "bad recipient address"}}
			continue
		}
		j := byDomain[d]
		if j == nil {
			j = &domainJob{e: e, domain: d, msg: msg, size: msg.Size(), sig: sig, out: out}
			byDomain[d] = j
			jobs = append(jobs, j)
		}
		j.rcpts = append(j.rcpts, i)
	}
	sem := make(chan struct{}, maxParallelDomains)
	var wg sync.WaitGroup
	for _, j := range jobs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			q.deliverDomain(ctx, j)
		}()
	}
	wg.Wait()
}

// sign returns the DKIM-Signature fields for the message, nil when there
// is no signer or no key for its From domain.
func (q *Queue) sign(log *slog.Logger, msg store.MessageReader) []byte {
	if q.signer == nil {
		return nil
	}
	sig, err := q.signer.Sign(io.NewSectionReader(msg, 0, msg.Size()))
	if err != nil {
		log.Warn("DKIM signing failed, sending unsigned", "err", err)
		return nil
	}
	return sig
}

// finish records an attempt: each pending recipient's new status, the
// DSNs it calls for, and the next attempt.
func (q *Queue) finish(ctx context.Context, log *slog.Logger, e *store.QueueEntry, out []outcome, now time.Time) {
	age := now.Sub(e.Created)
	expired := age >= q.cfg.Lifetime
	// A delay warning is due once: at the first attempt past DelayWarning.
	// The previous attempt's time is the recipients' LastChange, which
	// UpdateQueue sets (and enqueueing, to the arrival time).
	var prev time.Time
	for _, r := range e.Recipients {
		if r.Status == "pending" && r.LastChange.After(prev) {
			prev = r.LastChange
		}
	}
	warn := age >= q.cfg.DelayWarning && prev.Sub(e.Created) < q.cfg.DelayWarning

	var rcpts []store.QueueRcpt
	reports := map[string][]dsnRcpt{}
	failedAt := map[string]int{} // index in rcpts of failed recipients, by address
	for i, r := range e.Recipients {
		if r.Status != "pending" {
			continue
		}
		o := out[i]
		if o.attempted {
			r.Attempts++
			r.LastReply = o.reply.String()
		}
		// The mail log's line names the entry itself (queue_id), so it
		// starts from the queue's log, not from log, which names it too.
		rlog := q.log.With("attempts", r.Attempts)
		mail := func(result string, rep reply) {
			maillog.Record(rlog, q.cfg.Metrics, maillog.Entry{QueueID: e.ID, From: e.From, To: r.Address, Size: e.Size,
				Result: result, MX: rep.mta, Code: rep.code, Reply: rep.text1(), Delay: now.Sub(e.Created)})
		}
		switch {
		case o.attempted && o.reply.code < 300:
			r.Status = "delivered"
			mail(maillog.Sent, o.reply)
			if o.relayed && notifies(&r, "SUCCESS") {
				reports[actionRelayed] = append(reports[actionRelayed], dsnRcpt{rcpt: r, action: actionRelayed, reply: o.reply})
			}
		case o.attempted && o.reply.permanent(), expired:
			rep := o.reply
			if !o.attempted || !rep.permanent() {
				last := rep
				if !o.attempted {
					last = reply{}
					if r.LastReply != "" {
						last = parseReply(r.LastReply)
					}
				}
				rep = replyExpired(last)
				rlog = rlog.With("expired", true)
			}
			mail(maillog.Bounced, rep)
			r.Status = "failed"
			if notifies(&r, "FAILURE") {
				failedAt[r.Address] = len(rcpts)
				reports[actionFailed] = append(reports[actionFailed], dsnRcpt{rcpt: r, action: actionFailed, reply: rep})
			}
		default:
			if o.attempted {
				mail(maillog.Deferred, o.reply)
			}
			if warn && o.attempted && notifies(&r, "DELAY") {
				reports[actionDelayed] = append(reports[actionDelayed], dsnRcpt{rcpt: r, action: actionDelayed, reply: o.reply})
			}
		}
		rcpts = append(rcpts, r)
	}

	next := now.Add(q.cfg.backoff(e.Attempts + 1))
	if end := e.Created.Add(q.cfg.Lifetime); next.After(end) {
		next = end
	}
	// RFC 5321 §4.5.5: nothing is reported to the null reverse-path.
	if e.From != "" {
		for _, action := range []string{actionFailed, actionDelayed, actionRelayed} {
			list := reports[action]
			if len(list) == 0 {
				continue
			}
			err := q.sendDSN(ctx, e, action, list, now, next)
			if err == nil {
				log.Info("DSN sent", "action", action, "to", e.From, "rcpts", len(list))
				continue
			}
			log.Error("storing DSN", "action", action, "err", err)
			if action == actionFailed {
				// The failure is not reported yet: keep the recipients
				// pending, so that a later attempt reports it.
				for _, dr := range list {
					rcpts[failedAt[dr.rcpt.Address]].Status = "pending"
				}
			}
		}
	}
	switch err := q.st.UpdateQueue(ctx, e.ID, e.LeaseOwner, rcpts, next); {
	case errors.Is(err, store.ErrLeaseLost):
		// Deleted by an operator, or the lease ran out and another
		// worker has the entry now: its record is the one that counts.
		log.Warn("attempt not recorded: lease lost", "err", err)
	case err != nil:
		log.Error("recording attempt", "err", err)
	}
}

// notifies reports whether a recipient's NOTIFY parameter asks for a DSN of
// this kind (RFC 3461 §4.1). Without one, failures and delays are reported.
func notifies(r *store.QueueRcpt, kind string) bool {
	if len(r.Notify) == 0 {
		return kind == "FAILURE" || kind == "DELAY"
	}
	return slices.ContainsFunc(r.Notify, func(n string) bool { return strings.EqualFold(n, kind) }) &&
		!slices.ContainsFunc(r.Notify, func(n string) bool { return strings.EqualFold(n, "NEVER") })
}

// sendDSN stores a DSN for the sender of e: into the sender's mailbox when
// local, else into the queue, from the null reverse-path. A sender that
// cannot receive it (unknown, over quota) loses it, with a warning: a DSN
// about a DSN is never made.
func (q *Queue) sendDSN(ctx context.Context, e *store.QueueEntry, action string, rcpts []dsnRcpt, now, retryUntil time.Time) error {
	orig, err := q.st.OpenQueued(ctx, e.ID)
	if err != nil {
		return err
	}
	defer orig.Close()
	spool, err := q.st.NewSpool()
	if err != nil {
		return err
	}
	defer spool.Discard() // no-op once delivered
	d := &dsn{
		hostname: q.cfg.Hostname, sender: e.From, envID: e.DSNEnvID, arrival: e.Created, now: now,
		retryUntil: retryUntil, action: action, full: e.DSNRet == "FULL" && !e.RequireTLS, utf8: e.SMTPUTF8, rcpts: rcpts,
	}
	if err := d.write(spool, orig, orig.Size()); err != nil {
		return err
	}
	if err := spool.Finish(); err != nil {
		return err
	}
	// RFC 8689 §5: the report on a REQUIRETLS message goes out with
	// REQUIRETLS too. It never returns the body (d.full above): the body
	// must not travel where TLS may not be required.
	in := deliver.Incoming{Spool: spool, Prefix: []byte("Return-Path: <>\r\n"), SMTPUTF8: e.SMTPUTF8,
		RequireTLS: e.RequireTLS, Body8Bit: e.Body8Bit || e.SMTPUTF8}
	route, err := q.router.Resolve(ctx, e.From)
	switch {
	case err == nil:
		in.Local = route.Local
		for _, a := range route.Remote {
			in.Remote = append(in.Remote, store.QueueRcpt{Address: a})
		}
	case errors.Is(err, deliver.ErrNotLocal):
		in.Remote = []store.QueueRcpt{{Address: e.From}}
	case errors.Is(err, deliver.ErrNoSuchUser), errors.Is(err, deliver.ErrBadAddress):
		q.log.Warn("DSN dropped: sender unknown", "queue_id", e.ID, "sender", e.From)
		return nil
	default:
		return err
	}
	delivered, err := deliver.Deliver(ctx, q.st, in)
	if errors.Is(err, store.ErrQuota) {
		q.log.Warn("DSN dropped: sender over quota", "queue_id", e.ID, "sender", e.From)
		return nil
	}
	if err != nil {
		return err
	}
	// The DSN is a message of its own: its outcomes go to the mail log.
	log := q.log.With("dsn_for", e.ID)
	size := int64(len(in.Prefix)) + spool.Size()
	for _, a := range in.Local {
		maillog.Record(log, q.cfg.Metrics, maillog.Entry{To: a.Address, Size: size, Result: maillog.Delivered, Mailbox: "INBOX"})
	}
	if len(in.Remote) > 0 {
		var queueID int64
		if len(delivered) > 0 {
			queueID = delivered[0].QueueID
		}
		for _, rc := range in.Remote {
			maillog.Record(log, q.cfg.Metrics, maillog.Entry{QueueID: queueID, To: rc.Address, Size: size, Result: maillog.Queued})
		}
		q.Kick()
	}
	return nil
}

// MaySend reports whether account accountID may submit mail for n more
// remote recipients under PerAccountDailyLimit (recipients queued in the
// last 24 hours). The submission server asks before accepting a message.
func (q *Queue) MaySend(ctx context.Context, accountID int64, n int) (bool, error) {
	if q.cfg.PerAccountDailyLimit <= 0 {
		return true, nil
	}
	sent, err := q.st.SentToday(ctx, accountID, time.Now().Add(-24*time.Hour))
	if err != nil {
		return false, err
	}
	return sent+n <= q.cfg.PerAccountDailyLimit, nil
}
