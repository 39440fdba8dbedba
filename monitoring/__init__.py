"""Shared monitoring configuration and the local stack runner."""
