//go:build tools

// The konnectivity server and agent that Kamaji's konnectivity addon runs for tenant control planes
// (registry.k8s.io/kas-network-proxy/proxy-server and proxy-agent).
package tools

import (
	_ "sigs.k8s.io/apiserver-network-proxy/cmd/agent"
	_ "sigs.k8s.io/apiserver-network-proxy/cmd/server"
)
