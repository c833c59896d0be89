"""Throwaway real servers (and the fake Kubernetes API) for the suite: one module each."""
