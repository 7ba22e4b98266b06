"""Test sources and helpers for the ELF / pyld tests."""
