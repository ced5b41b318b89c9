"""The kMetal lab: real Kubernetes parts on one machine for the collection's tests and demo."""
