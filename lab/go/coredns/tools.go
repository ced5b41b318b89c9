//go:build tools

// Package tools pins the CoreDNS server the lab builds.
package tools

import (
	_ "github.com/coredns/coredns"
)
