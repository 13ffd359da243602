"""Drives Postel's IMAP server with Python's imaplib (IMAP4rev1 client).

Usage: imaplib_client.py HOST PORT CAFILE USER PASSWORD
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


ctx = ssl.create_default_context(cafile=cafile)
m = imaplib.IMAP4(host, int(port))
ok(m.starttls(ssl_context=ctx))
out["capabilities"] = sorted(m.capabilities)
ok(m.login(user, password))
out["namespace"] = ok(m.namespace())[0].decode()
ok(m.create("Py/Sub"))
out["list"] = [l.decode() for l in ok(m.list('""', "*"))]
ok(m.subscribe("Py/Sub"))
out["lsub"] = [l.decode() for l in ok(m.lsub('""', "Py*"))]
msg = b"From: py@example.org\r\nSubject: from python\r\n\r\nHello from imaplib.\r\n"
out["append"] = ok(m.append("INBOX", r"(\Seen)", imaplib.Time2Internaldate(1700000000), msg))[0].decode()
out["select"] = int(ok(m.select("INBOX"))[0])
out["search"] = ok(m.search(None, "SUBJECT", '"from python"'))[0].decode()
data = ok(m.fetch("1", "(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY[TEXT])"))
out["fetch_meta"] = data[0][0].decode()
out["fetch_header"] = data[0][1].decode()
out["fetch_text"] = data[1][1].decode()
out["store"] = [d.decode() for d in ok(m.store("1", "+FLAGS", r"(\Flagged)"))]
out["copy"] = [d.decode() for d in ok(m.copy("1", "Py/Sub"))]
out["uid_move"] = [d.decode() for d in ok(m.uid("MOVE", "1", "Archive")) if d]
out["status"] = ok(m.status("Py/Sub", "(MESSAGES UIDNEXT UNSEEN)"))[0].decode()
out["quotaroot"] = [[d.decode() for d in x if d] for x in ok(m.getquotaroot("INBOX"))]
ok(m.select("Archive"))
out["archive_fetch"] = [d.decode() if isinstance(d, bytes) else d[0].decode() for d in ok(m.fetch("1:*", "(FLAGS)"))]
ok(m.store("1", "+FLAGS", r"(\Deleted)"))
out["expunge"] = [d.decode() for d in ok(m.expunge()) if d]
ok(m.close())
ok(m.rename("Py", "Python"))
ok(m.delete("Python/Sub"))
out["list_after"] = [l.decode() for l in ok(m.list('""', "Py*"))]
m.logout()
print(json.dumps(out))
