package main

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"postel/internal/config"
	"postel/internal/sharedfiles"
	"postel/internal/store/postgres"
	"postel/internal/storecopy"
)

// runStoreCopy copies the store of the data dir (as the config names it:
// normally the embedded SQLite database) into the PostgreSQL database of
// --to, with everything clients remember kept (internal/storecopy), and
// verifies the copy. It runs on the stores directly, never in a server:
// the source must not change meanwhile, so it refuses while a server holds
// the data dir unless --force. Interrupted, it is run again and finishes
// the copy.
func runStoreCopy(e *env, args []string) error {
	to := e.flags.String("to", "", "the PostgreSQL database to copy into: a `DSN`, postgres://USER:PASSWORD@HOST/DB or \"host=H dbname=D user=U\"")
	force := e.flags.Bool("force", false, "copy even while a server holds the data dir (what it changes meanwhile may be missed: the verification then fails; stop it and run the copy again)")
	if _, err := e.parse(args, 0, 0); err != nil {
		return err
	}
	if *to == "" {
		return usageError{"--to DSN is required"}
	}
	dir, err := e.dataDirPath()
	if err != nil {
		return err
	}
	cfg := config.Dev(dir)
	if e.dataDir == "" || e.configPath != "" {
		if cfg, err = e.loadConfig(); err != nil {
			return err
		}
	}
	if serverHolds(dir) {
		if !*force {
			return fmt.Errorf("a server runs on %s: stop it first, so that nothing changes during the copy (or give --force)", dir)
		}
		fmt.Fprintf(e.stderr, "postel: warning: a server runs on %s; what it changes during the copy may be missed\n", dir)
	}
	switch cfg.Store.Driver {
	case "postgres":
		if cfg.Store.DSN == *to {
			return fmt.Errorf("the config's store is that database already")
		}
	default:
		if _, err := os.Stat(filepath.Join(dir, "postel.db")); err != nil {
			return fmt.Errorf("no Postel data in %s (no postel.db there): is --data-dir or the config's data_dir right?", dir)
		}
	}
	ctx, stop := signal.NotifyContext(e.ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	src, err := openStore(ctx, cfg, false, nil, nil)
	if err != nil {
		return fmt.Errorf("opening the source: %w", err)
	}
	defer src.Close()
	dst, err := postgres.Open(ctx, *to, postgres.Options{})
	if err != nil {
		return fmt.Errorf("opening the target %s: %w", redactDSN(*to), err)
	}
	defer dst.Close()

	// The DKIM keys and the SRS secret go into the store too, when it
	// carries them, for every node to take at its start.
	files, err := sharedfiles.Local(dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "copying the %s store of %s into %s\n", cfg.Store.Driver, dir, redactDSN(*to))
	bar := newProgressBar(e.stderr)
	rep, err := storecopy.Copy(ctx, src, dst, storecopy.Options{Progress: bar.update, Files: files})
	bar.end()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted after copying %d messages: run the same command again to finish the copy (nothing is copied twice)", rep.CopiedMessages)
		}
		if errors.Is(err, storecopy.ErrDifferent) {
			return fmt.Errorf("%w\n(if the source changed during the copy, stop the server and run the copy again)", err)
		}
		return err
	}
	w := e.stdout
	fmt.Fprintf(w, "copied %d messages (%s) and %d queue entries in %v", rep.CopiedMessages, byteSize(rep.CopiedBytes), rep.CopiedQueue,
		rep.Elapsed.Round(time.Millisecond))
	if n := rep.Messages - rep.CopiedMessages; n > 0 {
		fmt.Fprintf(w, "; %d messages were there from an earlier run", n)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "verified: %d domains, %d accounts, %d aliases, %d mailboxes, %d messages (%s), %d expunges, %d queue entries, "+
		"%d junk rules, %d sender reputations: the same in both, with the same UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, UIDs, MODSEQs, flags, dates and sizes\n",
		rep.Domains, rep.Accounts, rep.Aliases, rep.Mailboxes, rep.Messages, byteSize(rep.Bytes), rep.Expunged, rep.Queue,
		rep.JunkRules, rep.Reputations)
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	shown := redactDSN(*to)
	fmt.Fprintf(w, "\nTo serve from PostgreSQL, set in the config of every node, then start them:\n\n[store]\ndriver = \"postgres\"\ndsn = %q\n", shown)
	if shown != *to {
		fmt.Fprintln(w, "(with your password in place of xxxxx, or in a .pgpass file)")
	}
	fmt.Fprintln(w)
	if rep.SharedFiles {
		sharedFilesNote(w, dir, rep.Files)
	} else {
		nodeFilesNote(w, dir)
	}
	return nil
}

// sharedFilesNote says that the data dir's secrets went into the store
// (store.SharedFiles), where every node takes them at its start.
func sharedFilesNote(w io.Writer, dir string, names []string) {
	var domains []string
	srsKey := false
	for _, n := range names {
		if n == "srs.key" {
			srsKey = true
		} else if d := strings.Split(n, "/"); len(d) == 3 && !slices.Contains(domains, d[1]) {
			domains = append(domains, d[1])
		}
	}
	var what []string
	if len(domains) > 0 {
		what = append(what, "the DKIM keys of "+strings.Join(domains, ", "))
	} else {
		fmt.Fprintf(w, "DKIM: no keys in %s.\n", filepath.Join(dir, "dkim"))
	}
	if srsKey {
		what = append(what, "the SRS secret")
	}
	if len(what) > 0 {
		fmt.Fprintf(w, "Copied into the store too: %s. Every node writes them into its data_dir at its start: nothing to copy by hand.\n",
			strings.Join(what, " and "))
	}
}

// nodeFilesNote says what else every node needs, when the target does not
// carry them: the DKIM keys (data_dir/dkim/DOMAIN/SELECTOR.key,
// internal/dkim) and the SRS secret (data_dir/srs.key) are files in the
// data dir, not in the store; each node signs outgoing mail and checks SRS
// addresses with them.
func nodeFilesNote(w io.Writer, dir string) {
	dkimDir := filepath.Join(dir, "dkim")
	var domains []string
	ents, _ := os.ReadDir(dkimDir)
	for _, d := range ents {
		if d.IsDir() {
			domains = append(domains, d.Name())
		}
	}
	var files []string
	if len(domains) > 0 {
		files = append(files, fmt.Sprintf("%s (the DKIM keys of %s)", dkimDir, strings.Join(domains, ", ")))
	} else {
		fmt.Fprintf(w, "DKIM: no keys in %s, nothing to copy.\n", dkimDir)
	}
	if _, err := os.Stat(filepath.Join(dir, "srs.key")); err == nil {
		files = append(files, filepath.Join(dir, "srs.key")+" (the SRS secret)")
	}
	if len(files) > 0 {
		fmt.Fprintf(w, "These are files, not in the store: copy %s to the data_dir of every node, readable by postel only.\n",
			strings.Join(files, " and "))
	}
}

// byteSize formats a size in KiB, MiB or GiB.
func byteSize(n int64) string {
	switch {
	case n < 1<<20:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
}

// passwordField matches a password in a key=value DSN.
var passwordField = regexp.MustCompile(`password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// redactDSN hides the password of a DSN, for printing.
func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		s := u.Redacted()
		if q := u.Query(); q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
			s = u.Redacted()
		}
		return s
	}
	return passwordField.ReplaceAllString(dsn, "password=xxxxx")
}

// progressBar shows a copy's progress on stderr: a bar redrawn in place
// on a terminal, else a plain line every two seconds.
type progressBar struct {
	w     io.Writer
	tty   bool
	start time.Time
	last  time.Time
	drawn bool
}

func newProgressBar(w io.Writer) *progressBar {
	f, ok := w.(*os.File)
	return &progressBar{w: w, tty: ok && term.IsTerminal(int(f.Fd())), start: time.Now()}
}

func (b *progressBar) update(p storecopy.Progress) {
	every := 2 * time.Second
	if b.tty {
		every = 100 * time.Millisecond
	}
	now := time.Now()
	if now.Sub(b.last) < every && p.Messages < p.TotalMessages {
		return
	}
	b.last = now
	if !b.tty {
		fmt.Fprintf(b.w, "copied %d/%d messages (%s)\n", p.Messages, p.TotalMessages, byteSize(p.Bytes))
		return
	}
	frac := 1.0
	if p.TotalMessages > 0 {
		frac = min(1, float64(p.Messages)/float64(p.TotalMessages))
	}
	const width = 30
	full := int(frac * width)
	rate := float64(p.Messages) / max(now.Sub(b.start).Seconds(), 0.001)
	fmt.Fprintf(b.w, "\r[%s%s] %3.0f%%  %d/%d messages  %s/%s  %.0f msg/s\x1b[K", strings.Repeat("#", full), strings.Repeat(".", width-full),
		frac*100, p.Messages, p.TotalMessages, byteSize(p.Bytes), byteSize(p.TotalBytes), rate)
	b.drawn = true
}

// end finishes the bar's line.
func (b *progressBar) end() {
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}
