; Spec section 7, example 2: the execution address differs from the load address,
; and JMP #Stop is a forward reference.
Tail:
 LDA #33
 STA ,X
 JMP #Stop
Start:
 LDX #$A000
 JMP #Tail
Stop:
 END Start
