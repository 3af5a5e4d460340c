"""meshroll in a cluster: the Experiment CRD's store, Events, the Lease, the controller and its HTTP endpoints.

``controller.Controller`` is the public face (``meshroll controller`` builds one); ``revisions``,
``conditions``, ``document`` and ``evidence`` are pure; the rest are adapters to the API server.
"""
