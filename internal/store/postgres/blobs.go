package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"postel/internal/store"
)

// chunkSize is the size of the blob_chunks rows of new blobs (each blob
// records its own): a read at any offset fetches one chunk, so a partial
// FETCH of a large message reads at most this much more than it needs.
const chunkSize = 1 << 20

// insertBlob copies a finished spool into a new blob used refs times, with
// its searchable text (lower-cased, see migration 2), and returns its ID
// and body size. The first chunk goes in with the blobs row, in one
// statement: a typical message costs one round trip.
func (w *wtx) insertBlob(sp store.Spool, refs int, meta *store.MessageMeta) (id, size int64, err error) {
	b, err := sp.Open()
	if err != nil {
		return 0, 0, err
	}
	defer b.Close()
	size = b.Size()
	buf := make([]byte, min(size, chunkSize))
	if _, err := readFull(b, buf, 0); err != nil {
		return 0, 0, err
	}
	now := time.Now().Unix()
	err = w.tx.QueryRow(w.ctx, `WITH b AS (INSERT INTO blobs (size, chunk_size, refs, created) VALUES ($1, $2, $3, $4) RETURNING id)
		INSERT INTO blob_chunks (blob_id, n, data) SELECT id, 0, $5 FROM b RETURNING blob_id`,
		size, chunkSize, refs, now, buf).Scan(&id)
	if err != nil {
		return 0, 0, err
	}
	for n, off := 1, int64(len(buf)); off < size; n, off = n+1, off+chunkSize {
		part := buf[:min(size-off, chunkSize)]
		if _, err := readFull(b, part, off); err != nil {
			return 0, 0, err
		}
		if _, err := w.tx.Exec(w.ctx, `INSERT INTO blob_chunks (blob_id, n, data) VALUES ($1, $2, $3)`, id, n, part); err != nil {
			return 0, 0, err
		}
	}
	if meta.HeadersText != "" || meta.BodyText != "" {
		if _, err := w.tx.Exec(w.ctx, `INSERT INTO blob_text (blob_id, headers, body) VALUES ($1, $2, $3)`,
			id, searchFold(meta.HeadersText), searchFold(meta.BodyText)); err != nil {
			return 0, 0, err
		}
	}
	return id, size, nil
}

// searchFold is how text is stored and searched: case-insensitively, by
// the same rule on both sides, whatever the database's locale. A NUL
// becomes a space: PostgreSQL text cannot hold one (a body holding NUL
// was refused at delivery, and stopped the text backfill).
func searchFold(s string) string {
	return strings.ToLower(strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", " "), "\uFFFD"))
}

// readFull reads len(p) bytes at off.
func readFull(r io.ReaderAt, p []byte, off int64) (int, error) {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return n, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// dbBlob reads a blob's chunks on demand, keeping the last one read. It
// holds no connection between reads. Reads go on working for blobGrace
// after the last message using the blob is gone, as an open file would.
type dbBlob struct {
	s         *Store
	id        int64
	size      int64
	chunkSize int64

	mu     sync.Mutex
	n      int64 // the chunk in data; -1 for none
	data   []byte
	closed bool
}

// openBlob returns the reader of blob id, with its first chunk when the
// caller read it already (nil otherwise).
func (s *Store) openBlob(id, size int64, chunk int32, first []byte) *dbBlob {
	b := &dbBlob{s: s, id: id, size: size, chunkSize: int64(chunk), n: -1}
	if first != nil {
		b.n, b.data = 0, first
	}
	return b
}

func (b *dbBlob) Size() int64 { return b.size }

func (b *dbBlob) Close() error {
	b.mu.Lock()
	b.closed, b.data = true, nil
	b.mu.Unlock()
	return nil
}

// ReadAt implements io.ReaderAt; calls may run in parallel.
func (b *dbBlob) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("postgres: negative offset")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, fmt.Errorf("postgres: read of closed body %d", b.id)
	}
	n := 0
	for len(p) > 0 && off < b.size {
		c := off / b.chunkSize
		if c != b.n {
			if err := b.fetch(c); err != nil {
				return n, err
			}
		}
		in := off - c*b.chunkSize
		if in >= int64(len(b.data)) {
			return n, fmt.Errorf("postgres: body %d: chunk %d is short", b.id, c)
		}
		k := copy(p, b.data[in:])
		n += k
		off += int64(k)
		p = p[k:]
	}
	if len(p) > 0 {
		return n, io.EOF
	}
	return n, nil
}

// fetch reads chunk c.
func (b *dbBlob) fetch(c int64) error {
	ctx, cancel := context.WithTimeoutCause(b.s.ctx, b.s.opTimeout, errOpTimeout)
	defer cancel()
	var data []byte
	err := b.s.pool.QueryRow(ctx, `SELECT data FROM blob_chunks WHERE blob_id = $1 AND n = $2`, b.id, c).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: body %d chunk %d", store.ErrNotFound, b.id, c)
	} else if err != nil {
		if b.s.ctx.Err() != nil {
			return ErrClosed
		}
		return b.s.mapErr(ctx, err)
	}
	b.n, b.data = c, data
	return nil
}
