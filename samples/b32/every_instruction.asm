; every_instruction.asm: uses all 35 B32 instructions and checks what each one does.
;
; Row 1 gets one letter per group of checks (A to G) as the group starts; row 0 ends up
; "PASS" in light green, or "FAIL" in white on red when a check goes wrong. After a
; failure, the last letter on row 1 names the group that failed.

Start:
; A: loads, D = A*256+B, and the five compares.
        LDX #$A0A0          ; row 1, column 0
        LDA #65             ; 'A'
        STA ,X
        LDA #$12
        LDB #$34
        CMPD #$1234         ; D is A (high byte) and B (low byte)
        JNE #Fail
        CMPA #$12
        JNE #Fail
        CMPB #$34
        JNE #Fail
        LDX #$BEEF
        CMPX #$BEEF
        JNE #Fail
        LDY #Start          ; a label is a 16-bit value
        CMPY #Start
        JNE #Fail

; B: the conditional jumps. JGT jumps when the register was greater than the operand,
; JLT when it was less (the documented meaning, spec section 9).
        LDX #$A0A2
        LDA #66             ; 'B'
        STA ,X
        LDA #74
        CMPA #107           ; 74 < 107
        JLT #Less
        JMP #Fail
Less:   JGT #Fail
        JEQ #Fail
        CMPA #12            ; 74 > 12
        JGT #Greater
        JMP #Fail
Greater:
        JLT #Fail
        CMPA #74
        JEQ #Equal
        JMP #Fail
Equal:  JNE #Fail

; C: increments, which wrap around.
        LDX #$A0A4
        LDA #67             ; 'C'
        STA ,X
        LDA #$FF
        INCA                ; $FF + 1 wraps to 0
        CMPA #0
        JNE #Fail
        LDB #$41
        INCB
        CMPB #$42
        JNE #Fail
        LDX #$FFFF
        INCX
        CMPX #0
        JNE #Fail
        LDY #$1234
        INCY
        CMPY #$1235
        JNE #Fail
        LDA #$12
        LDB #$FF
        INCD                ; B wraps and carries into A: D = $1300
        CMPA #$13
        JNE #Fail
        CMPB #0
        JNE #Fail

; D: decrements.
        LDX #$A0A6
        LDA #68             ; 'D'
        STA ,X
        LDA #0
        DECA
        CMPA #$FF
        JNE #Fail
        LDB #$10
        DECB
        CMPB #$0F
        JNE #Fail
        LDX #0
        DECX
        CMPX #$FFFF
        JNE #Fail
        LDY #1
        DECY
        CMPY #0
        JNE #Fail
        LDA #$13
        LDB #0
        DECD                ; B borrows from A: D = $12FF
        CMPD #$12FF
        JNE #Fail

; E: rotates are 9 bits wide, through the carry CY (0 at reset).
        LDX #$A0A8
        LDA #69             ; 'E'
        STA ,X
        LDA #$81
        ROLA                ; CY <- bit 7 = 1, A <- $02 (the old CY, 0, enters bit 0)
        CMPA #$02
        JNE #Fail
        RORA                ; CY <- bit 0 = 0, A <- $81 (the old CY, 1, enters bit 7)
        CMPA #$81
        JNE #Fail
        LDB #$01
        RORB                ; CY <- 1, B <- 0
        CMPB #0
        JNE #Fail
        ROLB                ; CY <- 0, B <- 1
        CMPB #1
        JNE #Fail

; F: ADCx adds the carry: it increments only when CY is set, and leaves CY alone.
        LDX #$A0AA
        LDA #70             ; 'F'
        STA ,X
        LDA #5
        ADCA                ; CY is 0: nothing happens
        CMPA #5
        JNE #Fail
        LDB #$80
        ROLB                ; CY <- 1, B <- 0
        ADCB                ; B + 1
        CMPB #1
        JNE #Fail
        ADCA                ; CY is still 1: A + 1
        CMPA #6
        JNE #Fail

; G: additions.
        LDX #$A0AC
        LDA #71             ; 'G'
        STA ,X
        LDA #$F0
        ADDA #$20           ; $110 wraps to $10
        CMPA #$10
        JNE #Fail
        LDB #100
        ADDB #55
        CMPB #155
        JNE #Fail
        LDA #200
        LDB #100
        ADDAB               ; D <- A + B = 300 = $012C, so A = 1 and B = $2C
        CMPD #300
        JNE #Fail
        CMPA #1
        JNE #Fail

; Every check passed.
        LDX #$A000
        LDA #80             ; P
        STA ,X
        INCX
        LDA #$0A            ; light green on black
        STA ,X
        INCX
        LDA #65             ; A
        STA ,X
        INCX
        LDA #$0A
        STA ,X
        INCX
        LDA #83             ; S
        STA ,X
        INCX
        LDA #$0A
        STA ,X
        INCX
        LDA #83             ; S
        STA ,X
        INCX
        LDA #$0A
        STA ,X
        JMP #Done

Fail:   LDX #$A000
        LDA #70             ; F
        STA ,X
        INCX
        LDA #$4F            ; white on red
        STA ,X
        INCX
        LDA #65             ; A
        STA ,X
        INCX
        LDA #$4F
        STA ,X
        INCX
        LDA #73             ; I
        STA ,X
        INCX
        LDA #$4F
        STA ,X
        INCX
        LDA #76             ; L
        STA ,X
        INCX
        LDA #$4F
        STA ,X
Done:   END Start
