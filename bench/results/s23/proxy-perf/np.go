//go:build ignore

// np: a package-net proxy as Go programs write one (io.Copy each way,
// which splices between the two TCP sockets).
package main

import (
	"flag"
	"io"
	"net"
)

func main() {
	l := flag.String("l", "127.0.0.1:9102", "listen")
	u := flag.String("u", "127.0.0.1:9100", "upstream")
	flag.Parse()
	ln, err := net.Listen("tcp", *l)
	if err != nil {
		panic(err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			up, err := net.Dial("tcp", *u)
			if err != nil {
				c.Close()
				return
			}
			go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite() }()
			io.Copy(c, up)
			c.Close()
		}()
	}
}
