package auth

import (
	"context"
	"slices"
	"sync"
)

// hashScheduler shares the password hash, the one expensive step of a
// login, fairly among sources (client IPs, as Throttle keys them), so that
// a flood of logins from some sources does not delay users on others.
//
//   - At most slots hashes run at once (each holds its memory cost, 64 MiB
//     by default, for its whole run), and at most perSource of one source.
//   - An attempt that cannot run waits. When a slot frees, it goes to the
//     waiting source with the least load, its attempts granted in its busy
//     period plus those waiting, ties going to the one served least
//     recently (round-robin among equals); within a source, first come
//     first served. A source's busy period ends when it has nothing
//     running or waiting. So a new source is served before every source
//     with more attempts outstanding: behind at most the hashes already
//     running, not behind one hash per flooding source as plain
//     round-robin would put it.
//   - At most maxWaiting attempts wait. Past that, the newest waiting
//     attempt of the source with the greatest load is refused with ErrBusy
//     if that load exceeds the newcomer's; else the newcomer is.
//   - A waiting attempt whose context ends leaves the queue.
//
// Invariant: a slot is free only when no waiting source may take it, so an
// attempt that finds a free slot within its source's limit takes it at once.
type hashScheduler struct {
	slots, perSource, maxWaiting int

	mu      sync.Mutex
	running int
	waiting int
	tick    uint64 // orders arrivals and grants
	sources map[string]*hashSource
}

// hashSource is one source with hashes running or waiting.
type hashSource struct {
	key     string
	running int
	queue   []*hashWaiter
	served  int    // hashes granted in this busy period
	turn    uint64 // tick of its last grant, or of its arrival
}

// load orders waiting sources: the least loaded is served first.
func (src *hashSource) load() int { return src.served + len(src.queue) }

// hashWaiter is one waiting attempt.
type hashWaiter struct {
	ready chan struct{} // closed when granted a slot or refused
	err   error         // ErrBusy when refused; set before ready is closed
}

func newHashScheduler(slots, perSource, maxWaiting int) *hashScheduler {
	return &hashScheduler{
		slots:      max(slots, 1),
		perSource:  max(perSource, 1),
		maxWaiting: max(maxWaiting, 0),
		sources:    make(map[string]*hashSource),
	}
}

// acquire waits for a hashing slot for source key. It returns the function
// that frees the slot (to call once the hash is done; later calls do
// nothing), or ErrBusy when the queue is full, or ctx's error when ctx ends
// first.
func (s *hashScheduler) acquire(ctx context.Context, key string) (release func(), err error) {
	s.mu.Lock()
	src := s.sources[key]
	if src == nil {
		s.tick++
		src = &hashSource{key: key, turn: s.tick}
		s.sources[key] = src
	}
	if s.running < s.slots && src.running < s.perSource {
		s.grant(src)
		s.mu.Unlock()
		return s.releaser(src), nil
	}
	if s.waiting >= s.maxWaiting && !s.makeRoom(src) {
		s.drop(src)
		s.mu.Unlock()
		return nil, ErrBusy
	}
	w := &hashWaiter{ready: make(chan struct{})}
	src.queue = append(src.queue, w)
	s.waiting++
	s.mu.Unlock()

	select {
	case <-w.ready:
		if w.err != nil {
			return nil, w.err
		}
		return s.releaser(src), nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	select {
	case <-w.ready: // granted or refused meanwhile
		s.mu.Unlock()
		if w.err == nil {
			s.releaser(src)() // pass the slot on
		}
		return nil, ctx.Err()
	default:
	}
	if i := slices.Index(src.queue, w); i >= 0 {
		src.queue = slices.Delete(src.queue, i, i+1)
		s.waiting--
	}
	s.drop(src)
	s.mu.Unlock()
	return nil, ctx.Err()
}

// makeRoom refuses the newest waiting attempt of the most loaded source,
// if that source is more loaded than src would be with one more attempt.
// It reports whether it made room. s.mu must be held.
func (s *hashScheduler) makeRoom(src *hashSource) bool {
	var victim *hashSource
	for _, o := range s.sources {
		if len(o.queue) > 0 && (victim == nil || o.load() > victim.load() ||
			o.load() == victim.load() && o.turn > victim.turn) {
			victim = o
		}
	}
	if victim == nil || victim == src || victim.load() <= src.load()+1 {
		return false
	}
	w := victim.queue[len(victim.queue)-1]
	victim.queue = victim.queue[:len(victim.queue)-1]
	s.waiting--
	w.err = ErrBusy
	close(w.ready)
	return true
}

// releaser returns the function that frees src's slot once.
func (s *hashScheduler) releaser(src *hashSource) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.running--
			src.running--
			s.dispatch()
			s.drop(src)
		})
	}
}

// grant gives src a slot. s.mu must be held.
func (s *hashScheduler) grant(src *hashSource) {
	s.tick++
	s.running++
	src.running++
	src.served++
	src.turn = s.tick
}

// dispatch hands free slots to waiting attempts, the least loaded source
// first. s.mu must be held.
func (s *hashScheduler) dispatch() {
	for s.running < s.slots {
		var next *hashSource
		for _, o := range s.sources {
			if len(o.queue) == 0 || o.running >= s.perSource {
				continue
			}
			if next == nil || o.load() < next.load() || o.load() == next.load() && o.turn < next.turn {
				next = o
			}
		}
		if next == nil {
			return
		}
		w := next.queue[0]
		next.queue = slices.Delete(next.queue, 0, 1)
		s.waiting--
		s.grant(next)
		close(w.ready)
	}
}

// drop forgets src once it has nothing running or waiting: its busy period
// is over. s.mu must be held.
func (s *hashScheduler) drop(src *hashSource) {
	if src.running == 0 && len(src.queue) == 0 && s.sources[src.key] == src {
		delete(s.sources, src.key)
	}
}

// stats returns the hashes running and the attempts waiting.
func (s *hashScheduler) stats() (running, waiting int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running, s.waiting
}
