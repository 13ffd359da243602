package quickstart

import (
	"postel/internal/config"
	"postel/internal/web"
)

// MTASTSPolicy returns the MTA-STS policy (RFC 8461 §3.2) that
// internal/web serves for every local domain of c at
// https://mta-sts.DOMAIN/.well-known/mta-sts.txt: mail goes to hostname
// only, over verified TLS. The _mta-sts TXT record Records lists carries
// its id, so the server must build its web.Config the same way (hostname,
// and the default mode and max_age): the id changes exactly when the
// served policy does.
func MTASTSPolicy(c *config.Config) web.STSPolicy {
	return web.Config{Hostname: c.Hostname}.Policy()
}
