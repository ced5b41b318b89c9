//go:build tools

// Package tools pins the Kamaji control-plane provider manager the lab builds.
package tools

import (
	_ "github.com/clastix/cluster-api-control-plane-provider-kamaji"
)
