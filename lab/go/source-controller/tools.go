//go:build tools

// Package tools pins the Flux source-controller the lab builds.
package tools

import (
	_ "github.com/fluxcd/source-controller"
)
