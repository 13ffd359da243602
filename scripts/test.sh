#!/usr/bin/env bash
# Installs what the tests need (Debian packages) when missing, then runs
# every test: gofmt, go vet, and go test with the race detector, which also
# runs every fuzz target on its committed seed corpus.
#
# Needs before it runs: Go (on PATH or in /usr/local/go), and this
# repository (git and ca-certificates to clone it and to fetch modules).
# Installing packages needs root, or sudo when it is there.
#
# The PostgreSQL tests start servers of their own (internal/testutil/pgtest)
# from the programs of the Debian package postgresql, and never use the
# system's cluster: no service is started while the packages install.
# Here they fail rather than skip when PostgreSQL is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
if ! command -v go >/dev/null 2>&1; then
	echo "test.sh: Go is not installed (looked on PATH and in /usr/local/go/bin); see https://go.dev/doc/install" >&2
	exit 1
fi

# Debian packages the tests need.
need=()
# go test -race needs cgo: a C compiler and the C library's headers.
command -v gcc >/dev/null 2>&1 || need+=(gcc)
[ -e /usr/include/stdlib.h ] || need+=(libc6-dev)
# Real clients the tests drive, which nobody here wrote.
command -v swaks >/dev/null 2>&1 || need+=(swaks)
# swaks speaks TLS through these, which it only recommends.
perl -MNet::SSLeay -MIO::Socket::SSL -e1 >/dev/null 2>&1 || need+=(libnet-ssleay-perl libio-socket-ssl-perl)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v mbsync >/dev/null 2>&1 || need+=(isync)
command -v fetchmail >/dev/null 2>&1 || need+=(fetchmail)
# PostgreSQL's server programs, found where pgtest looks for them.
pg=
if [ -n "${POSTEL_PG_BIN:-}" ]; then
	[ -x "$POSTEL_PG_BIN/initdb" ] && pg=found
else
	for f in /usr/lib/postgresql/*/bin/initdb; do
		[ -x "$f" ] && pg=found
	done
	command -v initdb >/dev/null 2>&1 && pg=found
fi
[ -n "$pg" ] || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" -eq 0 ]; then
		as_root=()
	elif command -v sudo >/dev/null 2>&1; then
		as_root=(sudo)
	else
		echo "test.sh: these Debian packages are missing: ${need[*]}" >&2
		echo "test.sh: installing them needs root, and there is no sudo: run this script as root, or install them first" >&2
		exit 1
	fi
	echo "installing: ${need[*]}"
	# No service starts meanwhile (the postgresql package would start its
	# cluster, whose start can fail, in a chroot or a container, and fail
	# the install): a policy-rc.d of ours says no, unless one is there.
	policy=/usr/sbin/policy-rc.d
	ours=
	if [ ! -e "$policy" ]; then
		ours=yes
		trap '"${as_root[@]}" rm -f "$policy"' EXIT
		printf '#!/bin/sh\n# scripts/test.sh: no service starts while it installs packages\nexit 101\n' |
			"${as_root[@]}" tee "$policy" >/dev/null
		"${as_root[@]}" chmod 755 "$policy"
	fi
	"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
	if [ -n "$ours" ]; then
		"${as_root[@]}" rm -f "$policy"
		trap - EXIT
	fi
fi

echo "== gofmt"
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$bad" ]; then
	echo "gofmt would change:"; echo "$bad"; exit 1
fi
echo "== go vet"
go vet ./...
echo "== go test -race (fuzz targets run on their seed corpora)"
# No PostgreSQL test skips for want of PostgreSQL: they fail.
export POSTEL_REQUIRE_POSTGRES=1
go test -race -timeout 15m -count=1 "$@" ./...
echo "== fuzzing the IMAP command parser and the ENVELOPE/BODYSTRUCTURE builders briefly (past their seeds)"
# Each target explores new inputs for a few seconds; a crasher is written
# to testdata/fuzz and fails the run.
for target in "FuzzReadCommand ./internal/imap" "FuzzEnvelope ./internal/imap" "FuzzBodyStructure ./internal/imap"; do
	set -- $target
	go test -run '^$' -fuzz "^$1\$" -fuzztime "${POSTEL_FUZZTIME:-10s}" "$2"
done
