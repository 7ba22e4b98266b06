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
    memory: Optional[int] = None     # guest memory cap in bytes (None: the personality's default)
    env: list = field(default_factory=list)  # extra K=V for Linux programs
    clear_env: bool = False
    root: Optional[str] = None
    allow_write: list = field(default_factory=list)
    max_procs: int = 64              # Linux: processes alive at once; fork beyond it is EAGAIN
    max_output: Optional[int] = None  # bytes the guest may write to stdout+stderr in all
    timeout: Optional[float] = None  # wall-clock seconds before the run is stopped
