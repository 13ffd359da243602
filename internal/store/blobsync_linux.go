package store

import "golang.org/x/sys/unix"

// syncBatch uses one syncfs(2) for the whole batch: it writes back every
// dirty file and directory of the filesystem holding the blobs, so a batch
// of N deliveries costs one flush instead of N fsyncs and their journal
// commits. Since Linux 5.8 it reports writeback errors.
func (b *FileBlobs) syncBatch(ids []int64) error {
	if len(ids) <= 1 {
		// One file: its fsync and its directory's are as cheap.
		return b.syncEach(ids)
	}
	fd, err := unix.Open(b.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Syncfs(fd)
}
