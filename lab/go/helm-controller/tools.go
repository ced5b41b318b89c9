//go:build tools

// Package tools pins the Flux helm-controller the lab builds.
package tools

import (
	_ "github.com/fluxcd/helm-controller"
)
