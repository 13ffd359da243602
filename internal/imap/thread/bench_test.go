package thread

import (
	"strconv"
	"testing"

	"postel/internal/imap"
)

// benchMsgs returns n messages in threads of about ten, replies
// referencing the thread's root and their parent.
func benchMsgs(n int) []Msg {
	msgs := make([]Msg, n)
	for i := range msgs {
		m := Msg{SeqNum: uint32(i + 1), UID: uint32(i + 1), Sent: at(i % 1000), Internal: at(i),
			MessageID: "m" + strconv.Itoa(i), Size: int64(i % 5000), From: "user" + strconv.Itoa(i%97)}
		root := i - i%10
		m.Subject = "Topic " + strconv.Itoa(root)
		if i != root {
			m.Subject = "Re: " + m.Subject
			m.References = []string{"m" + strconv.Itoa(root), "m" + strconv.Itoa(i-1)}
		}
		msgs[i] = m
	}
	return msgs
}

func BenchmarkReferences(b *testing.B) {
	msgs := benchMsgs(100000)
	b.ResetTimer()
	for range b.N {
		References(msgs)
	}
}

func BenchmarkSort(b *testing.B) {
	msgs := benchMsgs(100000)
	crit := []imap.SortCriterion{{Key: "SUBJECT"}, {Key: "DATE", Reverse: true}}
	b.ResetTimer()
	for range b.N {
		Sort(msgs, crit)
	}
}
