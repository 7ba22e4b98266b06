; hello.asm: a coloured greeting on the B32 screen.
;
; The screen is memory at $A000: 80x25 cells of two bytes, the character then its
; attribute (bits 0-2 foreground, bit 3 bright, bits 4-6 background). B32 cannot read
; memory, so text is written one immediate character at a time.
;
;   pyasm hello.asm -o hello.b32 && pyvm hello.b32

Start:
; Row 0: paint 13 cells yellow on blue ($1E), the attribute bytes at odd addresses.
        LDX #$A001
Banner: LDA #$1E
        STA ,X
        INCX
        INCX
        CMPX #$A01B         ; 13 cells later
        JNE #Banner

; Row 1 (at $A0A0): 18 cells in a rainbow of bright colours, $09 to $0F and round again.
        LDX #$A0A1
        LDA #$09            ; light blue
Rainbow:
        STA ,X
        INCX
        INCX
        INCA                ; next colour...
        CMPA #$10
        JNE #Same
        LDA #$09            ; ...back to light blue after white
Same:   CMPX #$A0C5         ; 18 cells later
        JNE #Rainbow

; The characters, at the even addresses.
        LDX #$A000
        LDA #72             ; H
        STA ,X
        INCX
        INCX
        LDA #101            ; e
        STA ,X
        INCX
        INCX
        LDA #108            ; l
        STA ,X
        INCX
        INCX
        STA ,X              ; l
        INCX
        INCX
        LDA #111            ; o
        STA ,X
        INCX
        INCX
        LDA #44             ; ,
        STA ,X
        INCX
        INCX
        INCX                ; a blank
        INCX
        LDA #87             ; W
        STA ,X
        INCX
        INCX
        LDA #111            ; o
        STA ,X
        INCX
        INCX
        LDA #114            ; r
        STA ,X
        INCX
        INCX
        LDA #108            ; l
        STA ,X
        INCX
        INCX
        LDA #100            ; d
        STA ,X
        INCX
        INCX
        LDA #33             ; !
        STA ,X

        LDX #$A0A0
        LDA #71             ; G
        STA ,X
        INCX
        INCX
        LDA #114            ; r
        STA ,X
        INCX
        INCX
        LDA #101            ; e
        STA ,X
        INCX
        INCX
        STA ,X              ; e
        INCX
        INCX
        LDA #116            ; t
        STA ,X
        INCX
        INCX
        LDA #105            ; i
        STA ,X
        INCX
        INCX
        LDA #110            ; n
        STA ,X
        INCX
        INCX
        LDA #103            ; g
        STA ,X
        INCX
        INCX
        LDA #115            ; s
        STA ,X
        INCX
        INCX
        INCX                ; a blank
        INCX
        LDA #102            ; f
        STA ,X
        INCX
        INCX
        LDA #114            ; r
        STA ,X
        INCX
        INCX
        LDA #111            ; o
        STA ,X
        INCX
        INCX
        LDA #109            ; m
        STA ,X
        INCX
        INCX
        INCX                ; a blank
        INCX
        LDA #66             ; B
        STA ,X
        INCX
        INCX
        LDA #51             ; 3
        STA ,X
        INCX
        INCX
        LDA #50             ; 2
        STA ,X
        END Start
