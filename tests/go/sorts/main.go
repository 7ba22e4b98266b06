package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

type person struct {
	name string
	age  int
}

func main() {
	text := "the quick brown fox jumps over the lazy dog the end fox"
	words := strings.Fields(text)
	counts := map[string]int{}
	for _, w := range words {
		counts[w]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("%-6s %d\n", k, counts[k])
	}
	people := []person{{"alice", 31}, {"bob", 25}, {"carol", 31}, {"dave", 19}}
	sort.SliceStable(people, func(i, j int) bool { return people[i].age > people[j].age })
	fmt.Println(people)
	nums := []int{}
	x := uint32(12345)
	for i := 0; i < 1000; i++ {
		x = x*1103515245 + 12345
		nums = append(nums, int(x>>16)%1000)
	}
	sort.Ints(nums)
	fmt.Println(nums[:5], nums[995:], sort.IntsAreSorted(nums))
	idx := sort.SearchInts(nums, 500)
	fmt.Println("search", idx)
	fmt.Println(strings.ToUpper("mixed Case"), strings.Repeat("ab", 3),
		strings.Replace("a-b-c-d", "-", "+", 2), strings.Split("x,y,,z", ","))
	fmt.Println(strings.Contains(text, "lazy"), strings.Index(text, "fox"),
		strings.LastIndex(text, "fox"), strings.TrimSpace("  pad  "))
	var b strings.Builder
	for i := 0; i < 5; i++ {
		b.WriteString(strconv.Itoa(i * i))
		b.WriteByte(' ')
	}
	fmt.Println(b.String())
	f, _ := strconv.ParseFloat("3.25", 64)
	fmt.Printf("%.3f %e %v %q\n", f*2, f/7, 1.0/3.0, "quote\"d")
	m := map[int]string{}
	for i := 0; i < 500; i++ {
		m[i] = strconv.Itoa(i)
	}
	delete(m, 7)
	fmt.Println(len(m), m[499])
	if len(os.Args) > 1 {
		os.Exit(3)
	}
}
