package main

import (
	"fmt"
	"sync"
)

func worker(id int, jobs <-chan int, results chan<- [2]int, wg *sync.WaitGroup) {
	defer wg.Done()
	for j := range jobs {
		sum := 0
		for k := 1; k <= j; k++ {
			sum += k * k
		}
		results <- [2]int{j, sum}
	}
}

func main() {
	jobs := make(chan int, 8)
	results := make(chan [2]int, 64)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go worker(w, jobs, results, &wg)
	}
	for j := 1; j <= 40; j++ {
		jobs <- j
	}
	close(jobs)
	go func() { wg.Wait(); close(results) }()
	total := make(map[int]int)
	for r := range results {
		total[r[0]] = r[1]
	}
	grand := 0
	for j := 1; j <= 40; j++ {
		grand += total[j]
	}
	fmt.Println("results", len(total), "grand", grand)

	var mu sync.Mutex
	counter := 0
	var wg2 sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg2.Add(1)
		go func(n int) {
			defer wg2.Done()
			for k := 0; k < 1000; k++ {
				mu.Lock()
				counter += n
				mu.Unlock()
			}
		}(i)
	}
	wg2.Wait()
	fmt.Println("counter", counter)

	done := make(chan struct{})
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v + 1
		}
		close(done)
	}()
	v := 0
	for i := 0; i < 100; i++ {
		ping <- v
		v = <-pong
	}
	close(ping)
	<-done
	fmt.Println("ping-pong", v)

	var once sync.Once
	for i := 0; i < 3; i++ {
		once.Do(func() { fmt.Println("once") })
	}
	sel := make(chan string, 1)
	select {
	case s := <-sel:
		fmt.Println("got", s)
	default:
		fmt.Println("select default")
	}
}
