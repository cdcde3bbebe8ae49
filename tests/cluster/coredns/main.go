// CoreDNS for the local test cluster, with only the plugins its Corefile uses
// (cluster.sh writes the Corefile). CoreDNS documents this way of choosing plugins
// at build time: a main package that imports coremain and the plugins and sets the
// directive order. Leaving out forward, route53, azure, clouddns, etcd and the rest
// means no plugin that could query outside the machine is in the binary, and the
// build stays small. The order below is upstream's (core/dnsserver/zdirectives.go),
// restricted to these plugins.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/template"
)

func init() {
	dnsserver.Directives = []string{"bind", "ready", "errors", "template", "kubernetes"}
}

func main() {
	coremain.Run()
}
