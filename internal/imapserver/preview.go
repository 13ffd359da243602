package imapserver

// PREVIEW (RFC 8970). The preview is made at FETCH time from the stored
// message (message.Preview: its first text part, a bounded read), never
// stored. Being always quick to make, it is also what PREVIEW (LAZY) gets:
// RFC 8970 §4.1 allows NIL only when the preview cannot be returned
// without undue delay, and a server that can is free to return it. With
// or without LAZY the answer is a string, "" when there is nothing to
// show (§3.2), never NIL. The text is UTF-8 (§3.3); imap.Writer.String
// sends it quoted when the session may read UTF-8 in quoted strings
// (IMAP4rev2, UTF8=ACCEPT) and as a literal otherwise (RFC 3501 allows
// 8-bit octets in literals only).
