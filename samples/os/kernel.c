/* kernel.c - a small protected-mode kernel: VGA text and COM1 output, an IDT, the
 * 8259A PICs remapped to vectors 20h-2Fh, the 8254 timer at 100 Hz, paging (the first
 * 4 MiB identity-mapped, the VGA text buffer also at 0xC00B8000, and a page mapped on
 * demand by the page-fault handler), and a software interrupt used as a system call.
 * Freestanding C: gcc -m32 -ffreestanding -fno-pic, linked by pyld at 0x10000. */

#include <stdint.h>

#define COM1 0x3f8
#define TICKS_WANTED 5

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }

/* ---- output: COM1 and the VGA text screen ---------------------------------------- */

static volatile uint16_t *screen = (volatile uint16_t *)0xb8000;
static int row, col;

static void serial_init(void) {
    outb(COM1 + 1, 0x00);       /* no UART interrupts */
    outb(COM1 + 3, 0x80);       /* DLAB: set the divisor */
    outb(COM1 + 0, 0x01);       /* 115200 baud */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03);       /* 8 bits, no parity, one stop bit */
    outb(COM1 + 2, 0xc7);       /* FIFOs on and cleared */
    outb(COM1 + 4, 0x03);       /* DTR, RTS */
}

static void serial_putc(char c) {
    while (!(inb(COM1 + 5) & 0x20))     /* wait for THR empty */
        ;
    outb(COM1, (uint8_t)c);
}

static void vga_putc(char c) {
    if (c == '\n') {
        col = 0;
        row++;
    } else {
        screen[row * 80 + col] = (uint16_t)(0x1f00 | (uint8_t)c);   /* white on blue */
        if (++col == 80) {
            col = 0;
            row++;
        }
    }
    if (row == 25) {
        for (int i = 0; i < 24 * 80; i++)
            screen[i] = screen[i + 80];
        for (int i = 24 * 80; i < 25 * 80; i++)
            screen[i] = 0x1f20;
        row = 24;
    }
}

static void putc(char c) {
    serial_putc(c);
    vga_putc(c);
}

static void puts(const char *s) {
    while (*s)
        putc(*s++);
}

static void put_hex(uint32_t v) {
    puts("0x");
    for (int shift = 28; shift >= 0; shift -= 4)
        putc("0123456789abcdef"[(v >> shift) & 15]);
}

static void put_dec(uint32_t v) {
    char buf[12];
    int n = 0;
    do {
        buf[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        putc(buf[--n]);
}

/* ---- interrupts -------------------------------------------------------------------- */

struct gate {
    uint16_t offset_low, selector;
    uint8_t zero, type;
    uint16_t offset_high;
} __attribute__((packed));

static struct gate idt[256];

extern void isr_timer(void), isr_page_fault(void), isr_syscall(void);
extern uint32_t isr_exception_table[32];
extern void load_idt(uint32_t limit, void *base);

static void set_gate(int vector, uint32_t handler, uint8_t type) {
    idt[vector].offset_low = handler & 0xffff;
    idt[vector].selector = 0x08;
    idt[vector].zero = 0;
    idt[vector].type = type;
    idt[vector].offset_high = handler >> 16;
}

static void remap_pics(void) {
    outb(0x20, 0x11); outb(0xa0, 0x11);     /* ICW1: edge, cascade, ICW4 follows */
    outb(0x21, 0x20); outb(0xa1, 0x28);     /* ICW2: vectors 20h-27h and 28h-2Fh */
    outb(0x21, 0x04); outb(0xa1, 0x02);     /* ICW3: the slave on IR2 */
    outb(0x21, 0x01); outb(0xa1, 0x01);     /* ICW4: 8086 mode */
    outb(0x21, 0xfe); outb(0xa1, 0xff);     /* only IRQ 0 */
}

static void start_timer(uint32_t hz) {
    uint32_t divisor = 1193182 / hz;
    outb(0x43, 0x36);                       /* counter 0, LSB then MSB, mode 3 */
    outb(0x40, divisor & 0xff);
    outb(0x40, divisor >> 8);
}

static volatile uint32_t ticks;

void timer_tick(void) {
    ticks++;
    if (ticks <= TICKS_WANTED) {
        puts("tick ");
        put_dec(ticks);
        putc('\n');
    }
    outb(0x20, 0x20);                       /* EOI */
}

void exception(uint32_t vector) {
    puts("exception ");
    put_dec(vector);
    puts(": stopping\n");
    for (;;)
        __asm__ volatile("cli; hlt");
}

uint32_t syscall(uint32_t number) {
    puts("system call ");
    put_dec(number);
    putc('\n');
    return number * 2;
}

/* ---- paging ------------------------------------------------------------------------ */

#define PRESENT 1u
#define WRITABLE 2u

static uint32_t page_directory[1024] __attribute__((aligned(4096)));
static uint32_t low_table[1024] __attribute__((aligned(4096)));     /* 0 - 4 MiB */
static uint32_t high_table[1024] __attribute__((aligned(4096)));    /* 0xC0000000 - */
static uint32_t demand_table[1024] __attribute__((aligned(4096)));  /* 0x40000000 - */
static uint32_t next_frame = 0x200000;      /* physical pages handed out on demand */

void page_fault(uint32_t error) {
    uint32_t address;
    __asm__ volatile("mov %%cr2, %0" : "=r"(address));
    puts("page fault at ");
    put_hex(address);
    puts(", error ");
    put_dec(error);
    if ((address >> 22) != (0x40000000u >> 22)) {
        puts(": not ours\n");
        exception(14);
    }
    demand_table[(address >> 12) & 1023] = next_frame | PRESENT | WRITABLE;
    next_frame += 4096;
    puts(": mapped\n");
}

static void enable_paging(void) {
    for (int i = 0; i < 1024; i++) {
        page_directory[i] = 0;
        low_table[i] = ((uint32_t)i << 12) | PRESENT | WRITABLE;
        high_table[i] = 0;
        demand_table[i] = 0;
    }
    high_table[0xb8] = 0xb8000 | PRESENT | WRITABLE;   /* 0xC00B8000 -> the screen */
    page_directory[0] = (uint32_t)low_table | PRESENT | WRITABLE;
    page_directory[0x40000000u >> 22] = (uint32_t)demand_table | PRESENT | WRITABLE;
    page_directory[0xc0000000u >> 22] = (uint32_t)high_table | PRESENT | WRITABLE;
    __asm__ volatile("mov %0, %%cr3" : : "r"(page_directory));
    uint32_t cr0;
    __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
    __asm__ volatile("mov %0, %%cr0" : : "r"(cr0 | 0x80000000u));   /* PG */
}

/* ---- the kernel -------------------------------------------------------------------- */

void kmain(void) {
    ticks = 0;
    row = 0;
    col = 0;
    serial_init();
    for (int i = 0; i < 80 * 25; i++)
        screen[i] = 0x1f20;
    puts("sample kernel: protected mode\n");

    for (int v = 0; v < 32; v++)
        set_gate(v, isr_exception_table[v], 0x8e);
    set_gate(14, (uint32_t)isr_page_fault, 0x8e);
    set_gate(0x20, (uint32_t)isr_timer, 0x8e);
    set_gate(0x30, (uint32_t)isr_syscall, 0x8f);          /* a trap gate */
    load_idt(sizeof idt - 1, idt);
    remap_pics();
    puts("IDT loaded, PICs at 20h/28h\n");

    enable_paging();
    volatile uint16_t *alias = (volatile uint16_t *)0xc00b8000;
    alias[79] = 0x4f21;                 /* a red '!' in the top right corner, via paging */
    puts("paging on: screen[79] via 0xc00b8000 = ");
    put_hex(screen[79]);
    putc('\n');

    volatile uint32_t *fresh = (volatile uint32_t *)0x40001234;
    *fresh = 0xcafe;                    /* not mapped yet: #PF, mapped, retried */
    puts("0x40001234 holds ");
    put_hex(*fresh);
    putc('\n');

    uint32_t result;
    __asm__ volatile("int $0x30" : "=a"(result) : "a"(21));
    puts("system call returned ");
    put_dec(result);
    putc('\n');

    start_timer(100);
    __asm__ volatile("sti");
    while (ticks < TICKS_WANTED)
        __asm__ volatile("hlt");
    __asm__ volatile("cli");
    puts("done after ");
    put_dec(TICKS_WANTED);
    puts(" timer interrupts\n");

    outw(0x604, 0x2000);                /* ACPI power off (QEMU's pc machine, pyvm) */
    outb(0xf4, 0);                      /* isa-debug-exit, if that did not work */
    for (;;)
        __asm__ volatile("hlt");
}
