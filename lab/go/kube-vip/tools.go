//go:build tools

// Package tools pins the kube-vip command the lab builds.
package tools

import (
	_ "github.com/kube-vip/kube-vip"
)
