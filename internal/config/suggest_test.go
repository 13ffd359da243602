package config

import "testing"

func TestUnknownKeySuggestions(t *testing.T) {
	tests := []struct{ data, want string }{
		{"[smtp]\nmax_mesage_size = 5", `config: unknown key "smtp.max_mesage_size" (did you mean "smtp.max_message_size"?)`},
		{"hostnme = \"x\"", `config: unknown key "hostnme" (did you mean "hostname"?)`},
		{"hsotname = \"x\"", `config: unknown key "hsotname" (did you mean "hostname"?)`}, // a transposition is one edit
		{"[imapd]\nlisten = \":143\"", `config: unknown key "imapd" (did you mean "imap"?)`},
		{"[auth]\nthrottle_max_failure = 3", `config: unknown key "auth.throttle_max_failure" (did you mean "auth.throttle_max_failures"?)`},
		{"[acme]\ndirectory = \"https://x\"", `config: unknown key "acme.directory"`}, // too far from directory_url
		// The right key in the wrong table, or above every table header.
		{"[smtp]\nmax_connections = 5", `config: unknown key "smtp.max_connections" (did you mean "limits.max_connections"?)`},
		{"max_message_size = 5\n[smtp]", `config: unknown key "max_message_size" (did you mean "smtp.max_message_size"?)`},
		// Nothing close: no guess.
		{"a = 1", `config: unknown key "a"`},
		{"[smtp]\ncolour = \"blue\"", `config: unknown key "smtp.colour"`},
		{"[imapd]\nlisten = 1\n[log]\nlevl = \"info\"\n[queue]\nworker = 2",
			`config: unknown keys "imapd" (did you mean "imap"?), "log.levl" (did you mean "log.level"?), "queue.worker" (did you mean "queue.workers"?)`},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.data))
		if err == nil || err.Error() != tt.want {
			t.Errorf("Parse(%q) = %v\nwant %s", tt.data, err, tt.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "abc", 3},
		{"hostname", "hostname", 0},
		{"hostnme", "hostname", 1},
		{"hsotname", "hostname", 1},
		{"max_mesage_size", "max_message_size", 1},
		{"kitten", "sitting", 3},
		{"größe", "grosse", 3}, // counted in characters, not bytes
	} {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := editDistance(tt.b, tt.a); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.b, tt.a, got, tt.want)
		}
	}
}
