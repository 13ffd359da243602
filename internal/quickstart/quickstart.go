// Package quickstart takes an operator from nothing to a working mail
// domain: postel init (Init) writes a complete, commented configuration,
// creates the data directory, the domain, its DKIM keys and a first
// account, and lists every DNS record the domain needs (Records);
// postel dns check (CheckDNS) asks the resolver for each of those records
// and says which are missing or wrong.
//
// Records is the one list both commands use, so what init asks the operator
// to publish is exactly what dns check looks for. It depends on the
// configuration (the host name, which services listen, ACME) and on the
// domain's DKIM keys, nothing else.
package quickstart
