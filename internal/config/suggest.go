package config

import (
	"reflect"
	"strings"
	"sync"
)

// The keys Config knows, by table: "" holds the top-level keys and the
// names of the tables, "smtp" the keys of [smtp]. Built once from the toml
// tags, so they cannot disagree with what Parse reads.
var knownKeys = sync.OnceValue(func() map[string][]string {
	keys := map[string][]string{}
	typ := reflect.TypeFor[Config]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		keys[""] = append(keys[""], tomlKey(f))
		if f.Type.Kind() == reflect.Struct {
			for j := range f.Type.NumField() {
				keys[tomlKey(f)] = append(keys[tomlKey(f)], tomlKey(f.Type.Field(j)))
			}
		}
	}
	return keys
})

// maxSuggestKey bounds the length of an unknown key compared with the known
// ones; a longer one is no typo of theirs.
const maxSuggestKey = 64

// suggest returns the known key most probably meant by the unknown key
// table.name (table "" for the top level), or "" when none is close: a key
// of the same table at a small edit distance (typos), else the same name
// in another table (a key written in the wrong table, or above every table
// header).
func suggest(table, name string) string {
	if len(name) > maxSuggestKey {
		return ""
	}
	keys := knownKeys()
	best, bestDist := "", maxDistance(name)+1
	for _, k := range keys[table] {
		if d := editDistance(strings.ToLower(name), k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best != "" {
		if table == "" {
			return best
		}
		return table + "." + best
	}
	for _, t := range keys[""] {
		if t == table {
			continue
		}
		for _, k := range keys[t] {
			if k == strings.ToLower(name) {
				return t + "." + k
			}
		}
	}
	return ""
}

// maxDistance is the largest edit distance at which a known key is taken
// for a typo of name: one edit in short names, up to three in long ones.
func maxDistance(name string) int {
	return min(3, max(1, len(name)/5))
}

// editDistance is the optimal string alignment distance between a and b:
// the insertions, deletions, substitutions and transpositions of adjacent
// characters that turn one into the other.
func editDistance(a, b string) int {
	s, t := []rune(a), []rune(b)
	// d[i][j] is the distance between s[:i] and t[:j].
	d := make([][]int, len(s)+1)
	for i := range d {
		d[i] = make([]int, len(t)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(s); i++ {
		for j := 1; j <= len(t); j++ {
			cost := 1
			if s[i-1] == t[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && s[i-1] == t[j-2] && s[i-2] == t[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(s)][len(t)]
}
