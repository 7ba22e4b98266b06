#define _GNU_SOURCE
#include <stdio.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <string.h>
#include <stdlib.h>
struct d64{unsigned long long ino; long long off; unsigned short reclen; unsigned char type; char name[];};
int main(){
 int d=open("skd",O_RDONLY|O_DIRECTORY); char buf[400]; int seen=0; int round=0; long r;
 while((r=syscall(SYS_getdents64,d,buf,sizeof buf))>0){
   for(long p=0;p<r;){ struct d64*e=(void*)(buf+p); if(strcmp(e->name,".")&&strcmp(e->name,"..")){ seen++; unlinkat(d,e->name,0);} p+=e->reclen; }
   lseek(d,0,SEEK_CUR); round++; }
 printf("seen %d of 40 in %d rounds\n",seen,round); return 0;}
