module kmetal.local/lab/source-controller

go 1.26.0

require github.com/fluxcd/source-controller v1.9.6

// Copied from the upstream go.mod: a wrapper must repeat its non-local replaces.
replace (
	github.com/opencontainers/go-digest => github.com/opencontainers/go-digest v1.0.1-0.20220411205349-bde1400a84be
)
