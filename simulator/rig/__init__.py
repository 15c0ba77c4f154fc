"""The emulated-cluster rig: network namespaces, launching ranks on it, microbenchmarks and
calibration of backend profiles.

Validation against the rig's measurements is a study (:mod:`simulator.studies.rig_validation`).
Everything here that builds a rig needs root and iproute2; importing does not.
"""
