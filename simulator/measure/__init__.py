"""Measurement: the emulated-cluster rig, microbenchmarks, calibration and validation.

Everything here that builds a rig needs root and iproute2; importing does not.
"""
