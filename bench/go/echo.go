// Go's echo server for fibra's network benchmark (bench/src/bin/net, see bench/README.md).
//
// The harness builds this file with `go build` and runs it as `echo-go` with
// GOMAXPROCS=1: one goroutine per connection, plain blocking reads and writes (Go's
// netpoller underneath), a 4 KiB buffer. It listens on an ephemeral port of 127.0.0.1
// and prints `listening ADDR` on stdout, as every server of the harness does.
package main

import (
	"fmt"
	"net"
	"os"
)

func main() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	fmt.Printf("listening %s\n", l.Addr())
	for {
		c, err := l.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "accept:", err)
			continue
		}
		go serve(c)
	}
}

func serve(c net.Conn) {
	defer c.Close()
	// Go sets TCP_NODELAY on TCP connections by default.
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil || n == 0 {
			return
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return
		}
	}
}
