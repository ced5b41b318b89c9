//go:build tools

// Package tools pins the flannel CNI plugin (the last plugins release that had it) the lab builds.
package tools

import (
	_ "github.com/containernetworking/plugins/plugins/meta/flannel"
)
