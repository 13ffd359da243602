package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

// schedRun drives a hashScheduler: each request acquires a slot in its
// goroutine, records the order of grants, and holds the slot until the
// test releases it.
type schedRun struct {
	t       *testing.T
	s       *hashScheduler
	started int
	mu      sync.Mutex
	granted []string          // request names, in grant order
	release map[string]func() // of granted requests
	errs    map[string]error
	wg      sync.WaitGroup
}

func newSchedRun(t *testing.T, slots, perSource, queue int) *schedRun {
	return &schedRun{t: t, s: newHashScheduler(slots, perSource, queue), release: map[string]func(){}, errs: map[string]error{}}
}

// settle waits until every request started is granted (and recorded),
// refused or waiting: then the scheduler's decisions so far are known.
func (r *schedRun) settle() {
	r.t.Helper()
	waitFor(r.t, "the scheduler to settle", func() bool {
		_, w := r.s.stats()
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.granted)+len(r.errs)+w == r.started
	})
}

// request starts a request named name (its source is the part before the
// dot) and waits until it runs, waits or is refused.
func (r *schedRun) request(ctx context.Context, name string) {
	r.t.Helper()
	src, _, _ := strings.Cut(name, ".")
	r.started++
	r.wg.Go(func() {
		rel, err := r.s.acquire(ctx, src)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err != nil {
			r.errs[name] = err
			return
		}
		r.granted = append(r.granted, name)
		r.release[name] = rel
	})
	r.settle()
}

// done releases the slot of the named granted request.
func (r *schedRun) done(name string) {
	r.t.Helper()
	r.mu.Lock()
	rel := r.release[name]
	r.mu.Unlock()
	if rel == nil {
		r.t.Fatalf("%s holds no slot", name)
	}
	rel()
	rel() // a second call does nothing
	r.settle()
}

// order returns the grants so far.
func (r *schedRun) order() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.granted)
}

// drain releases every slot, oldest grant first, until all requests ended.
func (r *schedRun) drain() []string {
	r.t.Helper()
	for i := 0; i < len(r.order()); i++ {
		r.done(r.order()[i])
	}
	r.wg.Wait()
	return r.order()
}

func TestHashSchedulerOrder(t *testing.T) {
	tests := []struct {
		name             string
		slots, perSource int
		requests         []string // in order of arrival
		want             []string // grant order when slots free one at a time
	}{
		{"first come first served within a source", 1, 1,
			[]string{"a.1", "a.2", "a.3"}, []string{"a.1", "a.2", "a.3"}},
		{"round-robin among sources of equal load", 1, 1,
			[]string{"x.1", "a.1", "b.1", "a.2", "b.2", "a.3", "b.3"},
			[]string{"x.1", "a.1", "b.1", "a.2", "b.2", "a.3", "b.3"}},
		{"a new source is served before the flooding ones", 1, 1,
			[]string{"a.1", "a.2", "a.3", "a.4", "b.1", "b.2", "b.3", "b.4", "c.1"},
			// then a and b, of equal load, take turns
			[]string{"a.1", "c.1", "a.2", "b.1", "a.3", "b.2", "a.4", "b.3", "b.4"}},
		{"the least loaded first", 1, 1,
			[]string{"x.1", "a.1", "a.2", "a.3", "b.1", "b.2", "c.1"},
			[]string{"x.1", "c.1", "b.1", "b.2", "a.1", "a.2", "a.3"}},
		{"per-source limit leaves slots to others", 3, 1,
			[]string{"a.1", "a.2", "a.3", "b.1", "b.2"},
			[]string{"a.1", "b.1", "a.2", "b.2", "a.3"}},
		{"two per source", 2, 2,
			[]string{"a.1", "a.2", "a.3", "a.4", "b.1"},
			[]string{"a.1", "a.2", "b.1", "a.3", "a.4"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newSchedRun(t, tc.slots, tc.perSource, 100)
			for _, name := range tc.requests {
				r.request(context.Background(), name)
			}
			if got := r.drain(); !slices.Equal(got, tc.want) {
				t.Errorf("grants %q, want %q", got, tc.want)
			}
			if len(r.errs) != 0 {
				t.Errorf("errors: %v", r.errs)
			}
			if run, wait := r.s.stats(); run != 0 || wait != 0 || len(r.s.sources) != 0 {
				t.Errorf("left %d running, %d waiting, %d sources", run, wait, len(r.s.sources))
			}
		})
	}
}

func TestHashSchedulerQueueFull(t *testing.T) {
	r := newSchedRun(t, 1, 1, 3)
	ctx := context.Background()
	for _, name := range []string{"a.1", "a.2", "a.3", "a.4"} {
		r.request(ctx, name)
	}
	// Full: a's own new attempt is refused.
	r.request(ctx, "a.5")
	// A new source takes the place of the newest of the most loaded.
	r.request(ctx, "b.1") // a.4 refused
	r.request(ctx, "c.1") // a.3 refused
	r.request(ctx, "d.1") // a.2 refused: a's load (2) is still above d's (1)
	// b, c and d have load 1, as e would: e is refused.
	r.request(ctx, "e.1")
	got := r.drain()
	wantErr := []string{"a.2", "a.3", "a.4", "a.5", "e.1"}
	var gotErr []string
	for name, err := range r.errs {
		if !errors.Is(err, ErrBusy) {
			t.Errorf("%s: %v, want ErrBusy", name, err)
		}
		gotErr = append(gotErr, name)
	}
	slices.Sort(gotErr)
	if !slices.Equal(gotErr, wantErr) {
		t.Errorf("refused %q, want %q", gotErr, wantErr)
	}
	if want := []string{"a.1", "b.1", "c.1", "d.1"}; !slices.Equal(got, want) {
		t.Errorf("grants %q, want %q", got, want)
	}
}

func TestHashSchedulerCancel(t *testing.T) {
	r := newSchedRun(t, 1, 1, 10)
	r.request(context.Background(), "a.1")
	ctx, cancel := context.WithCancel(context.Background())
	r.request(ctx, "b.1")
	r.request(context.Background(), "c.1")
	cancel()
	waitFor(t, "b.1 to leave the queue", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.errs["b.1"] != nil
	})
	if _, w := r.s.stats(); w != 1 {
		t.Fatalf("%d waiting after b.1 left, want 1", w)
	}
	if got := r.drain(); !slices.Equal(got, []string{"a.1", "c.1"}) {
		t.Errorf("grants %q, want a.1 c.1", got)
	}
	if err := r.errs["b.1"]; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled request: %v", err)
	}
	if len(r.s.sources) != 0 {
		t.Errorf("sources left: %d", len(r.s.sources))
	}
}

// TestHashSchedulerStress: under many goroutines, random cancellations
// and refusals, the limits always hold and everything is released.
func TestHashSchedulerStress(t *testing.T) {
	const slots, perSource = 3, 2
	s := newHashScheduler(slots, perSource, 20)
	var mu sync.Mutex
	running := map[string]int{}
	total, most := 0, 0
	var wg sync.WaitGroup
	for i := range 400 {
		wg.Go(func() {
			src := fmt.Sprint("s", i%9)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if i%5 == 0 {
				cancel()
			}
			rel, err := s.acquire(ctx, src)
			if err != nil {
				if !errors.Is(err, ErrBusy) && !errors.Is(err, context.Canceled) {
					t.Errorf("acquire: %v", err)
				}
				return
			}
			mu.Lock()
			running[src]++
			total++
			most = max(most, total)
			if running[src] > perSource || total > slots {
				t.Errorf("%d running (%d of %s)", total, running[src], src)
			}
			mu.Unlock()
			for range 1000 { // a little work
				_ = fmt.Sprint(i)
			}
			mu.Lock()
			running[src]--
			total--
			mu.Unlock()
			rel()
		})
	}
	wg.Wait()
	if run, wait := s.stats(); run != 0 || wait != 0 || len(s.sources) != 0 {
		t.Errorf("left %d running, %d waiting, %d sources", run, wait, len(s.sources))
	}
	if most == 0 {
		t.Errorf("nothing ran")
	}
}
