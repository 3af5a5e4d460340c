"""Traffic providers: the embedded mesh, Istio, Gateway API, SMI."""
