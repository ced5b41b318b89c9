//go:build tools

// Package tools pins the CoreDNS server that kubeadm v1.33 asks for (registry.k8s.io/coredns/coredns:v1.12.0).
package tools

import (
	_ "github.com/coredns/coredns"
)
