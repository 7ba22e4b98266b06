"""V16, the 16-bit teaching machine of ``v16-spec.md``: CPU and screen-less runner."""
