package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// auditSpec is a short closed-loop case for the load generators: a
// fraction of a second, one or two connections.
func auditSpec(conns, size int) *spec {
	return &spec{Conns: conns, MsgSize: size, Warmup: 0, Window: 200 * time.Millisecond}
}

// corruptEvery is how often the faulty servers below change a reply:
// often enough that the measured window meets one, rarely enough that
// some replies are counted first.
const corruptEvery = 20

// TestAuditEchoChecksEveryByte: a tcp-echo server that changes one byte
// in the middle of some replies must fail the case; a load generator that
// compares only the first and last bytes counts those replies as echoes.
func TestAuditEchoChecksEveryByte(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				// Whole messages: the load generator sends one and waits.
				buf := make([]byte, 1024)
				for n := 1; ; n++ {
					if _, err := io.ReadFull(c, buf); err != nil {
						return
					}
					if n%corruptEvery == 0 {
						buf[len(buf)/2] ^= 0xff
					}
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	_, err = loadEcho(auditSpec(2, 1024), ln.Addr().String())
	if err == nil {
		t.Fatal("loadEcho counted echoes with a changed middle byte")
	}
	if !strings.Contains(err.Error(), "differs") {
		t.Fatalf("loadEcho failed for another reason: %v", err)
	}
}

// TestAuditUDPEchoChecksEveryByte: the same for udp-echo, where the
// sequence number and the last byte survive and a middle byte does not.
func TestAuditUDPEchoChecksEveryByte(t *testing.T) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		buf := make([]byte, 2048)
		for n := 1; ; n++ {
			m, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if n%corruptEvery == 0 {
				buf[m/2] ^= 0xff
			}
			c.WriteToUDPAddrPort(buf[:m], from)
		}
	}()
	_, err = loadUDPEcho(auditSpec(1, 64), c.LocalAddr().String())
	if err == nil {
		t.Fatal("loadUDPEcho counted echoes with a changed middle byte")
	}
	if !strings.Contains(err.Error(), "differs") {
		t.Fatalf("loadUDPEcho failed for another reason: %v", err)
	}
}

// TestAuditHTTPChecksBody: an http server (here httptest's, standing for
// a transport that corrupts what it sends) whose body has the right
// length and the wrong bytes must fail the case.
func TestAuditHTTPChecksBody(t *testing.T) {
	var n atomic.Int64
	bad := bytes.Repeat([]byte{'x'}, httpBodySize)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%corruptEvery == 0 {
			w.Write(bad)
			return
		}
		w.Write(httpBody)
	}))
	defer srv.Close()
	_, err := loadHTTP(auditSpec(1, httpBodySize), srv.URL)
	if err == nil {
		t.Fatal("loadHTTP counted responses whose body was not httpBody")
	}
	if !strings.Contains(err.Error(), "body") {
		t.Fatalf("loadHTTP failed for another reason: %v", err)
	}
}
