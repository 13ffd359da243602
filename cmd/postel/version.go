package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is the release, set by release builds with
// -ldflags "-X main.version=v1.2.3"; otherwise the module's version from
// the build information, or "devel" for a build from a source tree.
var version = ""

// buildInfo is what the binary knows of its making.
type buildInfo struct {
	Version  string
	Commit   string // vcs.revision, "unknown" when not stamped
	Modified bool   // vcs.modified: built from a tree with changes not committed
	Date     string // vcs.time: the commit's date (Go stamps no build time, so builds are reproducible)
	Go       string
	Platform string
}

// readBuildInfo reads debug.ReadBuildInfo: the go command stamps the VCS
// fields when it builds inside a repository (-buildvcs, on by default).
func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Commit: "unknown", Date: "unknown", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if ok {
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			b.Go = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.time":
				b.Date = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if b.Version == "" {
		b.Version = "devel"
	}
	return b
}

// runVersion prints the version (also postel --version).
func runVersion(e *env, args []string) error {
	if _, err := e.parse(args, 0, 0); err != nil {
		return err
	}
	b := readBuildInfo()
	commit := b.Commit
	if b.Modified {
		commit += " (modified)"
	}
	fmt.Fprintf(e.stdout, "postel %s\ncommit  %s\ndate    %s\ngo      %s %s\n", b.Version, commit, b.Date, b.Go, b.Platform)
	return nil
}
