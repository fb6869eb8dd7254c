// Command coredns is the local control plane's cluster DNS: CoreDNS from the pinned
// github.com/coredns/coredns module, built with only the plugins its Corefile uses.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/ready"
)

// The order in which a query passes the plugins, as CoreDNS' own plugin.cfg orders them.
func init() {
	dnsserver.Directives = []string{"bind", "ready", "health", "errors", "cache", "loop", "kubernetes", "forward"}
}

func main() {
	coremain.Run()
}
