#!/usr/bin/env bash
# Installs what the tests need (Debian packages) when missing, then runs
# every test: gofmt, go vet, and go test with the race detector, which also
# runs every fuzz target on its committed seed corpus.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests drive: real clients nobody here wrote.
need=()
command -v swaks >/dev/null 2>&1 || need+=(swaks)
# swaks speaks TLS through these, which it only recommends.
perl -MNet::SSLeay -MIO::Socket::SSL -e1 >/dev/null 2>&1 || need+=(libnet-ssleay-perl libio-socket-ssl-perl)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v mbsync >/dev/null 2>&1 || need+=(isync)
command -v fetchmail >/dev/null 2>&1 || need+=(fetchmail)
if [ ${#need[@]} -gt 0 ]; then
	echo "installing: ${need[*]}"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

export PATH="$PATH:/usr/local/go/bin"
echo "== gofmt"
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$bad" ]; then
	echo "gofmt would change:"; echo "$bad"; exit 1
fi
echo "== go vet"
go vet ./...
echo "== go test -race (fuzz targets run on their seed corpora)"
go test -race -timeout 15m -count=1 "$@" ./...
