//go:build tools

// Package tools pins the MetalLB controller and speaker the lab builds.
package tools

import (
	_ "go.universe.tf/metallb/controller"
	_ "go.universe.tf/metallb/speaker"
	_ "go.universe.tf/metallb/frr-tools/cp-tool"
	_ "go.universe.tf/metallb/frr-tools/metrics"
)
