//go:build tools

// Package tools pins the lab mirror's registry: distribution's reference implementation of the OCI
// distribution API.
package tools

import _ "github.com/distribution/distribution/v3/cmd/registry"
