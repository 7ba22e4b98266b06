; pattern.asm: a loop that fills the whole screen with a diagonal pattern.
;
; Every cell gets the same byte as its character and its attribute, so the colours
; follow the characters: '!' to '/' on green, '0' to '?' on cyan, '@' to 'O' on red,
; and so on. The 94 printable characters do not divide the 80 columns, so each row
; starts 14 characters further on and the colours run in diagonals.

Start:
        LDX #$A000          ; top left cell
        LDA #$21            ; '!'
Cell:
        STA ,X              ; the character...
        INCX
        STA ,X              ; ...and the same byte as its attribute
        INCX
        INCA
        CMPA #$7F           ; past '~'?
        JNE #Next
        LDA #$21            ; start again at '!'
Next:
        CMPX #$AFA0         ; the first address after the screen
        JNE #Cell
        END Start
