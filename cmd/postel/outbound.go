package main

import (
	"fmt"
	"strconv"
	"time"

	"postel/internal/admin"
	"postel/internal/queue"
	"postel/internal/store"
)

func runDKIMGen(e *env, args []string) error {
	return e.dkimRecords(args, "dkim gen")
}

func runDKIMShow(e *env, args []string) error {
	return e.dkimRecords(args, "dkim show")
}

// dkimRecords runs a dkim command for the domain and prints the records
// to publish.
func (e *env) dkimRecords(args []string, name string) error {
	pos, err := e.parse(args, 1, 1)
	if err != nil {
		return err
	}
	var keys admin.DKIMKeys
	if err := e.call(name, admin.DomainArgs{Domain: pos[0]}, &keys); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "; Publish these TXT records for %s; a running server signs with new keys after postel reload or a restart.\n", keys.Domain)
	if keys.Shared {
		fmt.Fprintln(e.stdout, "; The keys are in the store too: every node of it takes them at its next postel reload or start.")
	}
	for _, r := range keys.Records {
		fmt.Fprintln(e.stdout, r.Zone)
	}
	return nil
}

func runQueueList(e *env, args []string) error {
	asJSON := e.jsonFlag()
	if _, err := e.parse(args, 0, 0); err != nil {
		return err
	}
	var all []admin.QueueEntry
	if err := e.call("queue list", admin.NoArgs{}, &all); err != nil {
		return err
	}
	if *asJSON {
		return e.printJSON(all)
	}
	entries := make([]store.QueueEntry, 0, len(all))
	for _, q := range all {
		entries = append(entries, q.Store())
	}
	fmt.Fprint(e.stdout, queue.List(entries, time.Now()))
	return nil
}

// queueID parses the one queue ID argument.
func (e *env) queueID(args []string) (int64, error) {
	pos, err := e.parse(args, 1, 1)
	if err != nil {
		return 0, err
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 {
		return 0, usageError{fmt.Sprintf("bad queue ID %q", pos[0])}
	}
	return id, nil
}

func runQueueShow(e *env, args []string) error {
	asJSON := e.jsonFlag()
	id, err := e.queueID(args)
	if err != nil {
		return err
	}
	var q admin.QueueEntry
	if err := e.call("queue show", admin.QueueArgs{ID: id}, &q); err != nil {
		return err
	}
	if *asJSON {
		return e.printJSON(q)
	}
	fmt.Fprint(e.stdout, queue.Describe(q.Store(), time.Now()))
	return nil
}

// runQueueRetry makes the entry due; a running server starts the attempt
// at once (admin.RetryQueued wakes its queue).
func runQueueRetry(e *env, args []string) error {
	id, err := e.queueID(args)
	if err != nil {
		return err
	}
	var r admin.QueueRetry
	if err := e.call("queue retry", admin.QueueArgs{ID: id}, &r); err != nil {
		return err
	}
	if r.Now {
		fmt.Fprintf(e.stdout, "queue entry %d: trying now\n", r.ID)
	} else {
		fmt.Fprintf(e.stdout, "queue entry %d is due: no server is running, it is tried when postel serve starts\n", r.ID)
	}
	return nil
}

func runQueueKick(e *env, args []string) error {
	if _, err := e.parse(args, 0, 0); err != nil {
		return err
	}
	if err := e.call("queue kick", admin.NoArgs{}, nil); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "the queue is trying every due message now")
	return nil
}

func runQueueDrop(e *env, args []string) error {
	id, err := e.queueID(args)
	if err != nil {
		return err
	}
	var q admin.QueueEntry
	if err := e.call("queue drop", admin.QueueArgs{ID: id}, &q); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "dropped queue entry %d (no bounce sent)\n", q.ID)
	return nil
}
