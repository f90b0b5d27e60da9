"""``outdial demo``: the whole product on loopback — the service, a simulated callee, one real call.

``script`` holds what is said (the demo agent's flow, the callee's persona), ``client`` talks to the
REST API, ``stack`` runs the service and the callee in one process, ``progress`` shows a call live,
``tour`` prints the curl commands of ``outdial demo --serve``, ``run`` ties them together.
"""
