"""The B32 machine: CPU (``cpu``), 80x25 text screen (``screen``, ``render``) and the
``pyvm`` entry point for .b32 files (``runner``)."""
