"""Drives REPLACE (RFC 8508) and CATENATE (RFC 4469) with Python's imaplib,
which knows neither: they go through its generic command path, with the
message as the command's literal.

Usage: imaplib_replace.py HOST PORT CAFILE USER PASSWORD
Prints one JSON object with what the server answered; the Go test checks
it against the store. Any failed command raises and exits non-zero.
"""
import imaplib
import json
import ssl
import sys

host, port, cafile, user, password = sys.argv[1:6]
out = {}


def ok(res):
    typ, data = res
    if typ != "OK":
        raise SystemExit("command failed: %r %r" % (typ, data))
    return data


imaplib.Commands["REPLACE"] = ("SELECTED",)
ctx = ssl.create_default_context(cafile=cafile)
m = imaplib.IMAP4(host, int(port))
ok(m.starttls(ssl_context=ctx))
ok(m.login(user, password))
out["capabilities"] = ok(m.capability())[0].decode().split()
draft = b"Subject: draft\r\n\r\nfirst words\r\n"
ok(m.append("Drafts", r"(\Draft)", None, draft))
ok(m.select("Drafts"))
# UID REPLACE 1 Drafts (\Draft) {n}: imaplib sends the literal last.
m.literal = b"Subject: draft\r\n\r\nfirst words, and more\r\n"
typ, _ = m.uid("REPLACE", "1", "Drafts", r"(\Draft)")
out["replace"] = typ
out["appenduid"] = [d.decode() for d in m.response("APPENDUID")[1] if d]
out["expunge"] = [d.decode() for d in m.response("EXPUNGE")[1] if d]
# APPEND with CATENATE, URL parts only (imaplib puts a literal last).
data = ok(m._simple_command("APPEND", "Sent", 'CATENATE (URL "/Drafts/;UID=2/;SECTION=HEADER" URL ";UID=2/;SECTION=TEXT")'))
out["catenate"] = data[0].decode()
ok(m.select("Sent"))
out["sent"] = ok(m.fetch("1", "(BODY.PEEK[])"))[0][1].decode()
m.logout()
print(json.dumps(out))
