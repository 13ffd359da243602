"""Drives Postel's ACL (RFC 4314) and shared namespace with Python's imaplib.

Usage: acl_imaplib.py HOST PORT CAFILE OWNER OWNERPASS GRANTEE GRANTEEPASS
The owner shares the mailbox PyShared with the grantee; the grantee finds
it, reads it and flags a message. Prints one JSON object with what the
server answered; the Go test checks it. Any failed command exits non-zero.
"""
import imaplib
import json
import ssl
import sys

host, port, cafile, owner, ownerpass, grantee, granteepass = sys.argv[1:8]
out = {}


def ok(res):
    typ, data = res
    if typ != "OK":
        raise SystemExit("command failed: %r %r" % (typ, data))
    return data


def conn(user, password):
    ctx = ssl.create_default_context(cafile=cafile)
    m = imaplib.IMAP4(host, int(port))
    ok(m.starttls(ssl_context=ctx))
    ok(m.login(user, password))
    return m


a = conn(owner, ownerpass)
ok(a.create("PyShared"))
ok(a.append("PyShared", r"(\Flagged)", None, b"Subject: shared\r\n\r\nfor bob\r\n"))
ok(a.setacl("PyShared", grantee, "lrs"))
ok(a.setacl("PyShared", grantee, "+w"))
out["getacl"] = ok(a.getacl("PyShared"))[0].decode()
# imaplib has no method for LISTRIGHTS: its generic command path.
imaplib.Commands["LISTRIGHTS"] = ("AUTH", "SELECTED")
typ, dat = a._simple_command("LISTRIGHTS", "PyShared", grantee)
out["listrights"] = ok(a._untagged_response(typ, dat, "LISTRIGHTS"))[0].decode()

b = conn(grantee, granteepass)
out["namespace"] = ok(b.namespace())[0].decode()
out["list"] = [l.decode() for l in ok(b.list('"Other Users/"', "*"))]
shared = '"Other Users/%s/PyShared"' % owner
out["myrights"] = ok(b.myrights(shared))[0].decode()
typ, data = b.getacl(shared)
out["getacl_grantee"] = typ
out["select"] = int(ok(b.select(shared))[0])
fetched = ok(b.fetch("1", "(FLAGS BODY.PEEK[TEXT])"))[0]
out["fetch_meta"], out["fetch"] = fetched[0].decode(), fetched[1].decode()
out["store"] = [d.decode() for d in ok(b.store("1", "+FLAGS", r"(\Seen $Bob)"))]
b.logout()

ok(a.deleteacl("PyShared", grantee))
out["getacl_after"] = ok(a.getacl("PyShared"))[0].decode()
a.logout()
print(json.dumps(out))
