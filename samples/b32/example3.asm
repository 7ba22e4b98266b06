; Spec section 7, example 3: print the bits of $C5, most significant first.
; ROLB moves each bit into the carry, ADCA adds it to '0'.
Begin:
 LDB #$C5
 LDY #8
 LDX #$A000
Next:
 LDA #48
 ROLB
 ADCA
 STA ,X
 INCX
 INCX
 DECY
 CMPY #0
 JNE #Next
 END Begin
