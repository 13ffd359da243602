package store

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
)

// Blobs keeps message bodies by ID, for a store implementation. Bodies are
// written once (a Spool), put in place under the ID the store allocated in
// its transaction, made durable by Sync before that transaction commits,
// and never changed.
type Blobs interface {
	NewSpool() (Spool, error)
	// Put makes a finished spool the body of blob id; not durable before Sync.
	Put(s Spool, id int64) error
	// Sync makes the given blobs durable.
	Sync(ids []int64) error
	Open(id int64) (Blob, error)
	// Remove deletes a blob; a missing one is not an error.
	Remove(id int64) error
	// Clean removes what an interrupted run left: every spool, and each
	// blob whose ID lies in one of intents and that committed reports as
	// not committed. Intents are the ranges of IDs a store reserved, in a
	// commit of their own, before putting blobs under them; a store that
	// keeps no files (or reserves no IDs) passes none. Only at start, and
	// with the store's write lock held so that no put is under way. It
	// returns how many it removed.
	Clean(intents []IDRange, committed func(id int64) (bool, error)) (int, error)
}

// IDRange is the blob IDs from Lo up to, not including, Hi.
type IDRange struct{ Lo, Hi int64 }

// Blob is one stored body.
type Blob interface {
	io.ReaderAt
	Size() int64
	Close() error
}

// FileBlobs keeps message bodies as files under a directory:
//
//	tmp/              spools being received (removed at start)
//	msg/NNNNNN/ID     committed bodies, sharded by ID/ShardSize
//
// A body becomes a blob by a hard link from its spool into msg/, made
// inside the transaction that inserts the blob row, under an ID the store
// reserved (an intent) in an earlier commit; the store commits only after
// Sync has made the linked files and their directory entries durable.
// Spools are not fsynced one by one: Sync does it once for a whole batch
// (group commit), which is what lets throughput grow with concurrency. A
// crash before the commit leaves files in an intent with no row: Clean
// removes them.
type FileBlobs struct {
	dir string

	mu       sync.Mutex
	madeDirs map[string]bool
}

// ShardSize is how many blob IDs share one directory.
const ShardSize = 4096

// NewFileBlobs creates the directories under dir.
func NewFileBlobs(dir string) (*FileBlobs, error) {
	for _, d := range []string{"tmp", "msg"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	return &FileBlobs{dir: dir, madeDirs: map[string]bool{}}, nil
}

func (b *FileBlobs) shardDir(id int64) string {
	return filepath.Join(b.dir, "msg", fmt.Sprintf("%06d", id/ShardSize))
}

// Path is the file of blob id.
func (b *FileBlobs) Path(id int64) string {
	return filepath.Join(b.shardDir(id), strconv.FormatInt(id, 10))
}

// NewSpool creates a spool file in tmp/.
func (b *FileBlobs) NewSpool() (Spool, error) {
	f, err := os.CreateTemp(filepath.Join(b.dir, "tmp"), "spool-")
	if err != nil {
		return nil, err
	}
	return &fileSpool{f: f, path: f.Name()}, nil
}

var _ Blobs = (*FileBlobs)(nil)

// Put implements Blobs with a hard link from the spool into msg/.
func (b *FileBlobs) Put(s Spool, id int64) error {
	fs, ok := s.(*fileSpool)
	if !ok || !fs.finished {
		return fmt.Errorf("%w: spool not finished", ErrInvalid)
	}
	dir := b.shardDir(id)
	b.mu.Lock()
	made := b.madeDirs[dir]
	b.mu.Unlock()
	if !made {
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
				return err
			}
			// The new shard directory must itself survive a crash.
			if err := syncDir(filepath.Dir(dir)); err != nil {
				return err
			}
		}
		b.mu.Lock()
		b.madeDirs[dir] = true
		b.mu.Unlock()
	}
	return os.Link(fs.path, b.Path(id))
}

// Sync implements Blobs: the files' contents and their directory entries.
func (b *FileBlobs) Sync(ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	return b.syncBatch(ids)
}

// syncEach fsyncs every blob file and its directory, one by one.
func (b *FileBlobs) syncEach(ids []int64) error {
	dirs := map[string]bool{}
	for _, id := range ids {
		dirs[b.shardDir(id)] = true
		f, err := os.Open(b.Path(id))
		if err != nil {
			return err
		}
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	for d := range dirs {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// Open implements Blobs.
func (b *FileBlobs) Open(id int64) (Blob, error) {
	return openFileBlob(b.Path(id))
}

func openFileBlob(path string) (Blob, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &fileBlob{f, st.Size()}, nil
}

type fileBlob struct {
	*os.File
	size int64
}

func (f *fileBlob) Size() int64 { return f.size }

// Remove implements Blobs.
func (b *FileBlobs) Remove(id int64) error {
	err := os.Remove(b.Path(id))
	if os.IsNotExist(err) {
		return nil
	}
	return err
}

// Clean implements Blobs: every file in tmp/, and the files in intents
// that committed does not claim. Only the shard directories that intents
// reach are read.
func (b *FileBlobs) Clean(intents []IDRange, committed func(id int64) (bool, error)) (int, error) {
	n := 0
	tmp := filepath.Join(b.dir, "tmp")
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		if err := os.Remove(filepath.Join(tmp, e.Name())); err != nil {
			return n, err
		}
		n++
	}
	var rs []IDRange
	for _, r := range intents {
		if r.Lo < r.Hi {
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		return n, nil
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].Lo < rs[j].Lo })
	// in reports whether some range holds an ID in [lo, hi).
	in := func(lo, hi int64) bool {
		i := sort.Search(len(rs), func(i int) bool { return rs[i].Hi > lo })
		for ; i < len(rs) && rs[i].Lo < hi; i++ {
			if rs[i].Hi > lo {
				return true
			}
		}
		return false
	}
	shards, err := os.ReadDir(filepath.Join(b.dir, "msg"))
	if err != nil {
		return n, err
	}
	for _, s := range shards {
		shard, err := strconv.ParseInt(s.Name(), 10, 64)
		if err != nil || !s.IsDir() || !in(shard*ShardSize, (shard+1)*ShardSize) {
			continue
		}
		dir := filepath.Join(b.dir, "msg", s.Name())
		files, err := os.ReadDir(dir)
		if err != nil {
			return n, err
		}
		for _, f := range files {
			id, err := strconv.ParseInt(f.Name(), 10, 64)
			if err != nil || !in(id, id+1) {
				continue
			}
			ok, err := committed(id)
			if err != nil {
				return n, err
			}
			if ok {
				continue
			}
			if err := os.Remove(filepath.Join(dir, f.Name())); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

type fileSpool struct {
	f        *os.File
	path     string
	size     int64
	nul      bool // a NUL octet was written (HasNUL)
	finished bool
	gone     bool
}

func (s *fileSpool) Write(p []byte) (int, error) {
	if s.finished {
		return 0, fmt.Errorf("%w: write to finished spool", ErrInvalid)
	}
	n, err := s.f.Write(p)
	s.size += int64(n)
	s.nul = s.nul || bytes.IndexByte(p[:n], 0) >= 0
	return n, err
}

func (s *fileSpool) Size() int64 { return s.size }

func (s *fileSpool) HasNUL() bool { return s.nul }

func (s *fileSpool) Finish() error {
	if s.finished {
		return nil
	}
	// No fsync here: the store syncs the bodies of a whole batch at once
	// before its commit (FileBlobs.Sync).
	if err := s.f.Close(); err != nil {
		return err
	}
	s.finished = true
	return nil
}

func (s *fileSpool) Open() (Blob, error) {
	if !s.finished {
		return nil, fmt.Errorf("%w: spool not finished", ErrInvalid)
	}
	return openFileBlob(s.path)
}

// Discard removes the spool's temporary name. A body already linked into a
// blob stays. Discard may be called more than once.
func (s *fileSpool) Discard() error {
	if s.gone {
		return nil
	}
	s.gone = true
	if !s.finished {
		s.f.Close()
	}
	err := os.Remove(s.path)
	if os.IsNotExist(err) {
		return nil
	}
	return err
}
