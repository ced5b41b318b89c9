//go:build tools

// Package tools pins the Kamaji manager the lab builds.
package tools

import (
	_ "github.com/clastix/kamaji"
)
