//go:build tools

// Package tools pins kustomize, which renders the Cluster API providers' release manifests (components YAML)
// from their modules' config/ as each upstream release does.
package tools

import (
	_ "sigs.k8s.io/kustomize/kustomize/v5"
)
