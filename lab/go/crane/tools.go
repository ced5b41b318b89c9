//go:build tools

// Package tools pins crane, the lab's registry client: it assembles images without a container engine and
// pushes them into the lab mirror's registry.
package tools

import _ "github.com/google/go-containerregistry/cmd/crane"
