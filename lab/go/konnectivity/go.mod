module kmetal.local/lab/konnectivity

go 1.26.0
