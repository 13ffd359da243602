package imapserver

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestWire runs the scripted dialogues of testdata/wire: exact lines a
// client sends and the server must answer, one session each. They are
// run by the conformance runner (runScript, conformance_test.go), whose
// format testdata/conformance/README.md describes.
func TestWire(t *testing.T) {
	files, err := filepath.Glob("testdata/wire/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			t.Parallel()
			runScript(t, f)
		})
	}
}
