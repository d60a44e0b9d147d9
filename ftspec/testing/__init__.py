"""Helpers for testing ftspec and its plugins: a tiny model to train for real in seconds,
and (``provider_contract``) checks a provider plugin runs against its own fake server.

Nothing here is imported by ftspec itself; importing it never loads torch until a helper runs.
"""
