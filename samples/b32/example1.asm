; Spec section 7, example 1: ten yellow-on-blue asterisks.
; A loop that writes a character and its attribute, using a label, CMPX and JNE.
Start:
 LDX #$A000
Loop:
 LDA #42
 STA ,X
 INCX
 LDA #$1E
 STA ,X
 INCX
 CMPX #$A014
 JNE #Loop
 END Start
