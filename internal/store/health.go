package store

import (
	"context"
	"time"
)

// Pinger is a store that can tell whether it answers: Ping makes one
// trivial read. The admin listener's /readyz asks it.
type Pinger interface {
	Ping(ctx context.Context) error
}

// QueueStatser is a store that counts its outbound queue cheaply, for the
// metrics read at each scrape: the number of entries and the arrival of
// the oldest (zero when the queue is empty).
type QueueStatser interface {
	QueueStats(ctx context.Context) (entries int, oldest time.Time, err error)
}
