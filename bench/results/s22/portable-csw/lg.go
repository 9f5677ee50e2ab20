//go:build ignore

package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("a", "127.0.0.1:9000", "")
	c := flag.Int("c", 64, "")
	sz := flag.Int("s", 64, "")
	d := flag.Duration("d", 5*time.Second, "")
	serve := flag.Bool("serve", false, "net echo server")
	flag.Parse()
	if *serve {
		l, err := net.Listen("tcp", *addr)
		if err != nil {
			panic(err)
		}
		for {
			cn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				buf := make([]byte, 32<<10)
				for {
					n, err := cn.Read(buf)
					if err != nil {
						return
					}
					if _, err := cn.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
		}
	}
	var n atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(*d)
	for i := 0; i < *c; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cn, err := net.Dial("tcp", *addr)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return
			}
			msg := make([]byte, *sz)
			back := make([]byte, *sz)
			for time.Now().Before(end) {
				cn.Write(msg)
				io.ReadFull(cn, back)
				n.Add(1)
			}
			cn.Close()
		}()
	}
	wg.Wait()
	fmt.Printf("%.1fk msg/s\n", float64(n.Load())/d.Seconds()/1e3)
}
