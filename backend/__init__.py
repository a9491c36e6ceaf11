"""Attention Lab's web service and command line."""
