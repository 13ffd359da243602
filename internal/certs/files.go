package certs

import (
	"os"
	"time"
)

// fileSource is the operator's certificate and key files, watched for
// changes. Its fields are guarded by Manager.mu.
type fileSource struct {
	// seen is what the files looked like at the last attempt to load them
	// (nil for a file that could not be read), so that a broken file is
	// reported once, not at every poll, and tried again when it changes.
	seen [2]os.FileInfo
}

// startFiles loads the operator's files, which must be usable, and starts
// polling them.
func (m *Manager) startFiles() error {
	m.files = &fileSource{}
	m.mu.Lock()
	changed, err := m.loadFiles(true)
	m.mu.Unlock()
	if err != nil {
		return err
	}
	m.changed(changed)
	m.wg.Add(1)
	go m.pollFiles()
	return nil
}

// pollFiles checks the files every interval until Close.
func (m *Manager) pollFiles() {
	defer m.wg.Done()
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		m.mu.Lock()
		changed, _ := m.loadFiles(false) // logged by loadFiles
		m.mu.Unlock()
		m.changed(changed)
	}
}

// loadFiles loads the operator's files and puts the certificate in
// service; without force, only when either file changed since the last
// attempt (another inode, size or modification time: both an in-place
// rewrite and a rename over the file are seen; a symbolic link is
// followed, as certbot's live/ directory needs). A pair that cannot be
// loaded keeps the certificate in service, and is logged and returned.
// m.mu is held.
func (m *Manager) loadFiles(force bool) (*CertInfo, error) {
	f := m.files
	var now [2]os.FileInfo
	for i, name := range []string{m.cfg.CertFile, m.cfg.KeyFile} {
		if name != "" {
			now[i], _ = os.Stat(name) // An error leaves nil; loading reports it.
		}
	}
	if !force && sameFile(f.seen[0], now[0]) && sameFile(f.seen[1], now[1]) {
		return nil, nil
	}
	f.seen = now
	cert, err := loadFiles(m.log, m.cfg.CertFile, m.cfg.KeyFile, m.cfg.Hostname, time.Now())
	if err != nil {
		if m.state.Load().fallback != nil {
			m.log.Error("certificate files not loaded; the certificate in service stays", "cert_file", m.cfg.CertFile, "key_file", m.cfg.KeyFile, "err", err)
		}
		return nil, err
	}
	return m.setFallback(&cert, SourceFile), nil
}

// sameFile reports whether a and b describe the same unchanged file, or
// are both nil.
func sameFile(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}
