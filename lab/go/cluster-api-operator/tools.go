//go:build tools

// Package tools pins the Cluster API operator manager the lab builds.
package tools

import (
	_ "sigs.k8s.io/cluster-api-operator/cmd"
)
