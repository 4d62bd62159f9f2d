"""Test doubles that stand in for the PBX (and other outside systems) in unit tests."""
