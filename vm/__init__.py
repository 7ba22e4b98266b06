"""Bytes -> behaviour: memory, CPUs, execution engine, OS personalities, screens."""
