//go:build tools

// Package tools pins the Kamaji Cluster API control-plane provider (CACPK) manager the lab builds.
package tools

import (
	_ "github.com/clastix/cluster-api-control-plane-provider-kamaji"
)
