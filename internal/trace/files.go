package trace

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Files writes the traces of some accounts to files, one per account,
// dir/ADDRESS.log, appended to (mode 0600, dir 0700): [log]
// trace_accounts. Lines are those of Format.
type Files struct {
	sub  *Sub
	dir  string
	log  *slog.Logger
	done chan struct{}

	mu    sync.Mutex
	files map[string]*os.File
}

// WriteFiles starts writing the sessions of accounts to files in dir
// until Close.
func (h *Hub) WriteFiles(accounts []string, dir string, log *slog.Logger) (*Files, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("trace files: %w", err)
	}
	f := Filter{}
	for _, a := range accounts {
		f.Accounts = append(f.Accounts, strings.ToLower(a))
	}
	w := &Files{sub: h.Subscribe(f, 4096), dir: dir, log: log, done: make(chan struct{}), files: map[string]*os.File{}}
	go w.run()
	return w, nil
}

// FileName is the file of account's trace in dir.
func FileName(dir, account string) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', strings.ContainsRune("@.-_+", r):
			return r
		}
		return '_'
	}, strings.ToLower(account))
	return filepath.Join(dir, name+".log")
}

func (w *Files) run() {
	defer close(w.done)
	var dropped int64
	for e := range w.sub.Events() {
		if e.Dir == "" { // Close's wake-up
			return
		}
		if d := w.sub.Dropped(); d > dropped {
			w.write(Event{Time: e.Time, Conn: e.Conn, Proto: e.Proto, Remote: e.Remote, Account: e.Account, Dir: Note,
				Text: fmt.Sprintf("(%d lines lost: the disk was too slow)", d-dropped)})
			dropped = d
		}
		w.write(e)
	}
}

func (w *Files) write(e Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e.Account == "" {
		return
	}
	f := w.files[e.Account]
	if f == nil {
		var err error
		f, err = os.OpenFile(FileName(w.dir, e.Account), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			w.log.Error("trace file", "account", e.Account, "err", err)
			return
		}
		w.files[e.Account] = f
	}
	if _, err := f.WriteString(Format(e) + "\n"); err != nil {
		w.log.Error("trace file", "account", e.Account, "err", err)
	}
}

// Close stops the trace, writes what it holds and closes the files.
func (w *Files) Close() error {
	w.sub.Close()
	// Nobody feeds the channel any more: a last, empty event ends run
	// after what is queued.
	w.sub.ch <- Event{}
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	for a, f := range w.files {
		f.Close()
		delete(w.files, a)
	}
	return nil
}
