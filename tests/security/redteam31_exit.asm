; A 98-byte static i386 program that exits 0 (tests/security/test_redteam31.py execs copies)
BITS 32
org 0x08048000
ehdr: db 0x7F, "ELF", 1, 1, 1, 0
      times 8 db 0
      dw 2, 3
      dd 1, _start, phdr - $$, 0, 0
      dw ehdrsize, phdrsize, 1, 0, 0, 0
ehdrsize equ $ - ehdr
phdr: dd 1, 0, $$, $$, filesize, filesize, 5, 0x1000
phdrsize equ $ - phdr
_start: mov eax, 1
        xor ebx, ebx
        int 0x80
filesize equ $ - $$
