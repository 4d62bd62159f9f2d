"""The voice menu: per-call state machines that decide what the caller hears."""
