//go:build tools

// Package tools pins the Cluster API provider KubeVirt manager the lab builds.
package tools

import (
	_ "sigs.k8s.io/cluster-api-provider-kubevirt"
)
