; v16-spec.md example 3d: endless recursion fills the stack (8,192 words); the 8,193rd
; call finds SP = 0xC000: ErrSegv (exit 139)
        .org 0x0000        ; the default; it also marks the file as V16 source
f:      call f
