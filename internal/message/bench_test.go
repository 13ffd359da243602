package message

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func benchmarkParse(b *testing.B, raw []byte) {
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	r := bytes.NewReader(raw)
	for b.Loop() {
		if _, err := Parse(r, int64(len(raw)), DefaultLimits()); err != nil {
			b.Fatal(err)
		}
	}
}

const benchHeader = "Return-Path: <alice@example.org>\r\n" +
	"Received: from mail.example.org (mail.example.org [192.0.2.1])\r\n\tby mx.example.net with ESMTPS id 4F3A2; Tue, 1 Jul 2025 10:52:37 +0200\r\n" +
	"From: =?UTF-8?Q?Alice_Exampl=C3=A9?= <alice@example.org>\r\nTo: Bob <bob@example.net>, carol@example.net\r\n" +
	"Subject: =?UTF-8?B?QmVuY2htYXJrIG1lc3NhZ2U=?=\r\nDate: Tue, 1 Jul 2025 10:52:30 +0200\r\n" +
	"Message-ID: <bench.1@example.org>\r\nMIME-Version: 1.0\r\n"

// BenchmarkParseText parses a 4 KiB text message.
func BenchmarkParseText(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(benchHeader + "Content-Type: text/plain; charset=utf-8\r\n\r\n")
	for sb.Len() < 4096-60 {
		sb.WriteString("The quick brown fox jumps over the lazy dog, again and again.\r\n")
	}
	benchmarkParse(b, []byte(sb.String()))
}

// BenchmarkParseMultipart parses a 1 MiB multipart message: text and HTML
// alternatives and base64 attachments.
func BenchmarkParseMultipart(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(benchHeader + "Content-Type: multipart/mixed; boundary=\"=_outer\"\r\n\r\n")
	sb.WriteString("--=_outer\r\nContent-Type: multipart/alternative; boundary=\"=_alt\"\r\n\r\n")
	sb.WriteString("--=_alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + strings.Repeat("Plain text line.\r\n", 100))
	sb.WriteString("--=_alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + strings.Repeat("<p>HTML line.</p>\r\n", 100) + "--=_alt--\r\n")
	line := strings.Repeat("QUJD", 19) + "\r\n"
	for i := 0; sb.Len() < 1<<20-100; i++ {
		fmt.Fprintf(&sb, "--=_outer\r\nContent-Type: application/octet-stream; name=\"file%d.bin\"\r\n"+
			"Content-Disposition: attachment; filename=\"file%d.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n", i, i)
		sb.WriteString(strings.Repeat(line, 1000))
	}
	sb.WriteString("--=_outer--\r\n")
	benchmarkParse(b, []byte(sb.String()))
}
