"""Options shared by every program kind that ``pyvm`` runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class RunOptions:
    args: tuple = ()                 # guest argv[1:]
    max_steps: Optional[int] = None  # stop with an error after this many instructions
    regs: bool = False               # print final registers
    stats: bool = False              # print instructions, seconds and MIPS at exit
    trace: bool = False
    trace_file: Optional[str] = None
    color: str = "auto"              # B32 screen: auto | always | never
    screen_html: Optional[str] = None
    org: Optional[int] = None        # flat binaries: load address
    bits: int = 32                   # flat binaries: 32 (Linux int 0x80) or 16 (BIOS real mode)
    memory: int = 16 << 20           # flat binaries: memory size in bytes
    env: list = field(default_factory=list)  # extra K=V for Linux programs
    clear_env: bool = False
    root: Optional[str] = None
    allow_write: list = field(default_factory=list)
