"""The demo-app Flask service."""
