//go:build tools

// Package tools pins the runc command the lab builds.
package tools

import (
	_ "github.com/opencontainers/runc"
)
